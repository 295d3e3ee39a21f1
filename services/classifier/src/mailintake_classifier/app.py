"""The classifier process: consumes `mail.quarantine.screened`, publishes `mail.classifier.classified`.

It has no /v1 API of its own; health, readiness and metrics come from the common frame.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from mailintake_classifier.adapters.ocr import OcrPool
from mailintake_classifier.domain.classify import prepare
from mailintake_classifier.handlers import make_handler
from mailintake_classifier.settings import ClassifierSettings
from mailintake_common.consumer import Subscription
from mailintake_common.events import TOPIC_SCREENED
from mailintake_common.observability import configure_logging
from mailintake_common.spool import sweep_spools
from mailintake_common.web import Runtime, create_service_app, serve
from mailintake_common.workers import start_ahead


def create_app(settings: ClassifierSettings | None = None) -> FastAPI:
    settings = settings or ClassifierSettings()
    pool = OcrPool(
        settings.workers(),
        memory_bytes=settings.ocr_worker_memory_bytes,
        page_timeout_s=settings.ocr_page_timeout_s,
        tesseract_timeout_s=settings.tesseract_timeout_s,
        tesseract_library=settings.tesseract_library,
        language=settings.ocr_language,
    )

    async def on_startup(runtime: Runtime) -> None:  # each OCR worker loads Tesseract's engine now
        runtime.tasks.append(asyncio.create_task(start_ahead(pool), name="classifier-workers"))

    prepare()  # trains the at-risk model (a few seconds), builds the cues, before the consumer takes work
    app = create_service_app(
        name="classifier",
        settings=settings,
        group="classifier",
        subscriptions=[Subscription(TOPIC_SCREENED, make_handler(settings, pool), stage="classifier")],
        on_startup=on_startup,
    )
    app.state.ocr_pool = pool
    return app


def main() -> None:
    settings = ClassifierSettings()
    configure_logging("classifier", settings.log_level, settings.log_json)
    sweep_spools(settings)  # part files a killed copy of this service left behind (issue 17)
    app = create_app(settings)
    try:
        serve(app, settings, settings.classifier_port)
    finally:
        app.state.ocr_pool.close()


app = create_app()
