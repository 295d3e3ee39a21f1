"""One file must not stop the classifier (issue 15, "One file must not stop a service").

A page that makes its OCR worker run out of memory loses that worker, not the service: the
worker is replaced and later documents are classified (before, the process pool stayed broken
and every later document failed without an at-risk check). A message that keeps doing it,
even across a restart of the service, ends in the DLQ with the reason, and the count is in
PostgreSQL. The classifier here is a real process with a small worker memory limit, fed
`screened` events through the outbox exactly as quarantine would send them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mailintake_common.db import unit_of_work
from mailintake_common.events import TOPIC_SCREENED, ClearedPart, DocumentScreenedV1, new_event
from mailintake_common.tables import consumer_attempts, documents
from tests.factories import classifier_pages as pages
from tests.support.kafka import read_topic
from tests.support.stack import Infra, Service, make_service

pytestmark = pytest.mark.slow

WORKER_MEMORY = str(300 * 1024 * 1024)  # ordinary pages (and Tesseract) fit; the oversized page does not


def classifier(infra: Infra, log_dir: Path, **env: str) -> Service:
    return make_service(
        infra,
        "classifier",
        log_dir,
        {
            "MAILINTAKE_OCR_WORKERS": "1",
            "MAILINTAKE_OCR_WORKER_MEMORY_BYTES": WORKER_MEMORY,
            "MAILINTAKE_CONSUMER_MAX_WORKER_FAILURES": "2",
            "MAILINTAKE_RECONCILER_ENABLED": "false",
            **env,
        },
    )


@pytest.fixture
async def engine(fresh_infra: Infra) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(fresh_infra.database_url)
    yield engine
    await engine.dispose()


async def screened_scan(engine: AsyncEngine, image: bytes) -> str:
    """A scan quarantine cleared: its document, its blob and the `screened` event in the outbox."""
    document_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    async with unit_of_work(engine) as uow:
        await uow.documents.create(document_id, channel="scan", received_at=now)
        ref = await uow.blobs.put(image, "image/png")
        await uow.documents.advance(document_id, "screened", result={"verdict": "clear", "findings": []})
        part = ClearedPart(part_id="c0", kind="scan", filename="scan.png", media_type="image/png", blob=ref)
        payload = DocumentScreenedV1(channel="scan", received_at=now, verdict="clear", cleared_parts=[part])
        await uow.outbox.add(TOPIC_SCREENED, new_event(document_id, payload))
    return document_id


async def status_of(engine: AsyncEngine, document_id: str) -> str | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))).scalar()


async def wait_for(engine: AsyncEngine, document_ids: list[str], wanted: str, timeout_s: float = 180) -> None:
    async with asyncio.timeout(timeout_s):
        while [await status_of(engine, d) for d in document_ids] != [wanted] * len(document_ids):
            await asyncio.sleep(0.5)


async def tally(engine: AsyncEngine, document_id: str):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(consumer_attempts).where(
                    consumer_attempts.c.consumer == "classifier", consumer_attempts.c.document_id == document_id
                )
            )
        ).first()


def letter(crn: str) -> bytes:
    return pages.png(pages.render(["Dear Sir or Madam", "Please find my new address enclosed.", f"CRN {crn}"]))


async def test_a_page_that_crashes_the_ocr_worker_leaves_the_next_documents_classified(
    fresh_infra: Infra, engine: AsyncEngine, tmp_path: Path
) -> None:
    # Every part goes to the workers as a spool file (issue 17): the worker killed mid-page leaves none behind.
    service = classifier(fresh_infra, tmp_path, MAILINTAKE_PART_SPOOL_BYTES="0")
    service.start()
    try:
        bomb = await screened_scan(engine, pages.oversized_png())
        await wait_for(engine, [bomb], "failed")
        # the process that lost its worker twice is the one still serving
        assert service.proc is not None and service.proc.poll() is None
        assert list((tmp_path / "part-spool").iterdir()) == []
        later = [await screened_scan(engine, letter("123456789A")), await screened_scan(engine, letter("987654321B"))]
        await wait_for(engine, later, "classified")
        async with engine.connect() as conn:
            results = (
                await conn.execute(select(documents.c.classification).where(documents.c.document_id.in_(later)))
            ).scalars()
            found = sorted(crn for r in results for crn in r["identifiers"]["crn"])
        assert found == ["123456789A", "987654321B"]
        metrics = httpx.get(f"{service.base_url}/metrics", timeout=10).text
        assert 'mailintake_workers_lost_total{kind="crash",pool="classifier"} 2.0' in metrics
        assert list((tmp_path / "part-spool").iterdir()) == []
    finally:
        service.stop()


async def test_a_crash_loop_across_a_restart_ends_in_the_dlq_with_the_reason_and_the_count(
    fresh_infra: Infra, engine: AsyncEngine, tmp_path: Path
) -> None:
    # The first process waits ten minutes before retrying: it is killed long before that.
    first = classifier(fresh_infra, tmp_path, MAILINTAKE_CONSUMER_BACKOFF_INITIAL_S="600")
    first.start()
    try:
        bomb = await screened_scan(engine, pages.oversized_png())
        async with asyncio.timeout(180):
            while (row := await tally(engine, bomb)) is None or row.worker_failures < 1:
                await asyncio.sleep(0.5)
        assert row.attempts == 1 and "memory limit" in row.last_error
    finally:
        first.kill()
    assert await status_of(engine, bomb) == "screened"

    second = classifier(fresh_infra, tmp_path)
    second.start()
    try:
        await wait_for(engine, [bomb], "failed")
        row = await tally(engine, bomb)
        assert row is not None and (row.attempts, row.worker_failures) == (2, 2)
        assert row.last_error == "WorkerCrashed: the worker ran out of memory (memory limit)"
        dead = await read_topic(
            fresh_infra.bootstrap, f"{TOPIC_SCREENED}.dlq", lambda vs: any(bomb in v["value"] for v in vs), 60
        )
        (letter_for_bomb,) = [d for d in dead if bomb in d["value"]]
        assert letter_for_bomb["error"] == (
            "WorkerCrashed: the worker ran out of memory (memory limit) after 2 attempt(s), 2 worker failure(s)"
        )
        assert (letter_for_bomb["attempts"], letter_for_bomb["worker_failures"]) == (2, 2)
        async with unit_of_work(engine) as uow:
            timeline = await uow.documents.timeline(bomb)
        assert [(t["stage"], t["outcome"]) for t in timeline][-1] == ("classifier", "failed")
    finally:
        second.stop()
