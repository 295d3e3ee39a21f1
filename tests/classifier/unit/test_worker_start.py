"""The classifier starts its OCR workers, each with Tesseract's engine, while it starts (issue 18)."""

from __future__ import annotations

from typing import Any

import pytest

from mailintake_classifier import app as classifier_app
from mailintake_classifier.adapters import tesseract
from mailintake_classifier.adapters.ocr import OcrPool
from mailintake_classifier.settings import ClassifierSettings
from mailintake_common.web import Runtime


async def test_the_apps_start_starts_every_ocr_worker_with_its_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    started: dict[str, Any] = {}

    def create_service_app(**kwargs: Any) -> Any:  # the frame's part: keep what the app asks it to run at start
        started.update(kwargs)
        return classifier_app.FastAPI()

    monkeypatch.setattr(classifier_app, "create_service_app", create_service_app)
    app = classifier_app.create_app(ClassifierSettings(ocr_workers=2))
    pool = app.state.ocr_pool
    try:
        runtime = Runtime(settings=ClassifierSettings(), engine=None)  # type: ignore[arg-type]
        await started["on_startup"](runtime)
        (task,) = runtime.tasks
        await task
        workers = list(pool._idle)
        assert len(workers) == 2 and all(w.process.is_alive() for w in workers)
        assert await pool.run(tesseract.loaded, timeout_s=60) == ["eng"]  # before any page
        assert {w.process.pid for w in pool._idle} == {w.process.pid for w in workers}  # no new worker
    finally:
        pool.close()


async def test_a_started_worker_has_the_part_readers_before_its_first_part() -> None:
    pool = OcrPool(1, memory_bytes=0)
    try:
        await pool.start(timeout_s=60)
        # builtins' eval crosses by name: asking imports nothing of the classifier's
        loaded = "[m in __import__('sys').modules for m in ('mailintake_classifier.adapters.parts', 'bs4')]"
        assert await pool.run(eval, loaded, timeout_s=60) == [True, True]
    finally:
        pool.close()
