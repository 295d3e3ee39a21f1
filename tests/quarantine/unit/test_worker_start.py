"""Quarantine starts its screening workers while it starts, not with its first items (issue 18)."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailintake_common.workers import SupervisedPool, start_ahead
from mailintake_quarantine.handlers import screening_pool
from mailintake_quarantine.settings import QuarantineSettings


async def test_every_worker_is_started_and_has_loaded_the_readers() -> None:
    pool = screening_pool(QuarantineSettings(screening_workers=2, screening_memory_bytes=0))
    try:
        await start_ahead(pool)
        workers = list(pool._idle)
        assert len(workers) == 2 and len({w.process.pid for w in workers}) == 2
        assert all(w.process.is_alive() for w in workers)
        assert await pool.run(_readers_loaded, timeout_s=60)
        assert {w.process.pid for w in pool._idle} == {w.process.pid for w in workers}  # no new worker
    finally:
        pool.close()


def _readers_loaded() -> bool:
    return "magic" in sys.modules and "mailintake_quarantine.adapters.content" in sys.modules


def test_a_worker_imports_no_database_or_s3_client() -> None:
    """What a worker imports to screen: the readers, not SQLAlchemy or httpx (half its start-up CPU)."""
    code = "import sys, mailintake_quarantine.adapters.spooled; print(sorted({'sqlalchemy', 'httpx'} & {*sys.modules}))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def fails_once(marker: str) -> None:
    """A worker's initializer that fails the first time (a worker that cannot start), then works."""
    if not os.path.exists(marker):
        open(marker, "x").close()
        raise OSError("cannot start")


async def test_a_worker_that_cannot_start_is_logged_and_left_to_the_first_item(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    pool = SupervisedPool("quarantine-test", 1, 0, initializer=functools.partial(fails_once, str(tmp_path / "x")))
    try:
        with caplog.at_level(logging.WARNING):
            await start_ahead(pool)
        assert "workers not started ahead" in caplog.text
        assert not pool._idle
        assert await pool.run(os.getpid, timeout_s=60) == pool._idle[0].process.pid  # the first item starts it
    finally:
        pool.close()
