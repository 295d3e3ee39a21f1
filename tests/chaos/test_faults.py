"""Faults under a steady stream of mixed documents (issue 6): nothing is lost, nothing is
routed twice, nothing stays in the outbox, and intake says 503 while PostgreSQL is down.

The stream posts emails, web forms and small scans to 127.0.0.1 while each service is
SIGKILLed and restarted in turn, the broker is restarted (it comes back empty) and PostgreSQL
is stopped for a few seconds. Bounded: a fixed rate for a fixed sequence, then a bounded wait.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.tables import documents, outbox, timeline
from tests.factories.documents import email_bytes, page_image, webform
from tests.support.stack import ADMIN_KEY, SERVICES, Infra, Service, make_service

pytestmark = pytest.mark.slow
FAST_RECOVERY = {
    "MAILINTAKE_RECONCILE_STUCK_AFTER_S": "8",
    "MAILINTAKE_RECONCILE_INTERVAL_S": "1",
    "MAILINTAKE_KAFKA_REQUEST_TIMEOUT_MS": "5000",
    "MAILINTAKE_DB_CONNECT_TIMEOUT_S": "1",
    "MAILINTAKE_CONSUMER_MAX_ATTEMPTS": "6",
    "MAILINTAKE_OCR_WORKERS": "1",
}


@dataclass
class Stream:
    accepted: set[str] = field(default_factory=set)
    answers: list[tuple[float, int | None]] = field(default_factory=list)  # (time, status or None: no answer)
    running: bool = True


@pytest.fixture
def services(fresh_infra: Infra, tmp_path: Path) -> Iterator[dict[str, Service]]:
    running = {name: make_service(fresh_infra, name, tmp_path, FAST_RECOVERY) for name in SERVICES}
    for service in running.values():
        service.start(wait_ready=False)
    for service in running.values():
        service.wait_ready()
    yield running
    for service in running.values():
        service.stop()


async def post_stream(intake: Service, stream: Stream, interval_s: float = 0.15) -> None:
    scan = page_image("Change of circumstances")
    count = 0
    async with httpx.AsyncClient(base_url=intake.base_url, headers={"X-API-Key": ADMIN_KEY}, timeout=10) as http:
        while stream.running:
            count += 1
            marker = uuid.uuid4().hex
            try:
                if count % 10 == 0:
                    response = await http.post(
                        "/v1/scans", files=[("file", (f"{marker}.png", scan, "image/png"))], data={"batch_id": marker}
                    )
                elif count % 2 == 0:
                    response = await http.post("/v1/webforms", json={**webform(), "fields": {"m": marker}})
                else:
                    response = await http.post(
                        "/v1/emails?mailbox=edc",
                        content=email_bytes(body=marker),
                        headers={"Content-Type": "message/rfc822"},
                    )
                stream.answers.append((time.monotonic(), response.status_code))
                if response.status_code == 202:
                    stream.accepted.add(response.json()["document_id"])
            except httpx.HTTPError:
                stream.answers.append((time.monotonic(), None))
            await asyncio.sleep(interval_s)


async def _restart(service: Service, kill: bool = True) -> None:
    service.kill() if kill else service.stop()
    await asyncio.sleep(1.0)
    service.start(wait_ready=False)
    await asyncio.to_thread(service.wait_ready)  # the default leaves room for model training


async def test_nothing_is_lost_or_routed_twice_through_kills_broker_restart_and_database_outage(
    services: dict[str, Service], fresh_infra: Infra
) -> None:
    stream = Stream()
    feeder = asyncio.create_task(post_stream(services["intake"], stream))
    await asyncio.sleep(3)
    for name in ("quarantine", "classifier", "routing", "intake"):
        await _restart(services[name])
        await asyncio.sleep(2)
    await asyncio.to_thread(fresh_infra.restart_broker)
    await asyncio.sleep(4)
    assert fresh_infra.postgres is not None
    await asyncio.to_thread(fresh_infra.postgres.stop)
    down_from = time.monotonic()
    await asyncio.sleep(4)
    down_until = time.monotonic()
    await asyncio.to_thread(fresh_infra.postgres.start)
    await asyncio.sleep(4)
    stream.running = False
    await feeder

    during_outage = [status for at, status in stream.answers if down_from + 0.5 < at < down_until]
    assert 503 in during_outage and 202 not in during_outage, during_outage
    assert len(stream.accepted) > 40

    engine = create_async_engine(fresh_infra.database_url)
    try:
        deadline = time.monotonic() + 240
        while True:
            async with engine.connect() as conn:
                statuses = dict(
                    (
                        await conn.execute(
                            select(documents.c.document_id, documents.c.status).where(
                                documents.c.document_id.in_(stream.accepted)
                            )
                        )
                    ).all()
                )
                unpublished = (
                    await conn.execute(select(func.count()).where(outbox.c.published_at.is_(None)))
                ).scalar_one()
            stuck = {d: s for d, s in statuses.items() if s != "routed"}
            if not stuck and unpublished == 0 and len(statuses) == len(stream.accepted):
                break
            assert time.monotonic() < deadline, f"{len(stuck)} not routed, {unpublished} unpublished: {stuck}"
            await asyncio.sleep(2)
        async with engine.connect() as conn:
            routings = dict(
                (
                    await conn.execute(
                        select(timeline.c.document_id, func.count())
                        .where(timeline.c.stage == "routing", timeline.c.document_id.in_(stream.accepted))
                        .group_by(timeline.c.document_id)
                    )
                ).all()
            )
            queues = (
                await conn.execute(
                    select(func.count()).where(
                        documents.c.document_id.in_(stream.accepted), documents.c.routing["queue"].astext.is_not(None)
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert set(routings) == stream.accepted  # every accepted document was routed ...
    assert set(routings.values()) == {1}  # ... exactly once
    assert queues == len(stream.accepted)  # ... to exactly one final queue
