"""`/readyz` tells the truth (issue 16): intake stays ready while the broker is down (its outbox
holds the events), and a consumer service whose loop is not running is not ready."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.tables import outbox
from tests.factories.documents import webform
from tests.support.api import client
from tests.support.stack import Infra, make_service

pytestmark = pytest.mark.slow


async def _published(database_url: str, document_id: str) -> bool:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(outbox.c.published_at).where(outbox.c.document_id == document_id))).all()
    finally:
        await engine.dispose()
    return bool(rows) and all(r.published_at is not None for r in rows)


async def test_intake_stays_ready_and_accepts_mail_while_the_broker_is_down(fresh_infra: Infra, tmp_path: Path) -> None:
    intake = make_service(fresh_infra, "intake", tmp_path, {"MAILINTAKE_KAFKA_REQUEST_TIMEOUT_MS": "3000"})
    intake.start()
    assert fresh_infra.broker is not None
    try:
        async with client(intake.base_url) as http:
            fresh_infra.broker.stop()
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["broker"] is False and ready.json()["database"] is True
            posted = await http.post("/v1/webforms", json=webform())
            assert posted.status_code == 202, posted.text
            document_id = posted.json()["document_id"]
            assert not await _published(fresh_infra.database_url, document_id)  # held in the outbox

            fresh_infra.broker.start()  # comes back empty: the relay recreates topics and publishes
            deadline = time.monotonic() + 60
            while not await _published(fresh_infra.database_url, document_id):
                assert time.monotonic() < deadline, "the outbox kept the event after the broker came back"
                await asyncio.sleep(0.5)
            assert (await http.get("/readyz")).json()["broker"] is True
    finally:
        intake.stop()


async def test_a_consumer_service_whose_loop_cannot_run_is_not_ready(infra: Infra, tmp_path: Path) -> None:
    # A batch size of 0 makes the consumer refuse to start: the loop crashes and restarts for ever
    # while the database and the broker both answer.
    broken = make_service(infra, "quarantine", tmp_path, {"MAILINTAKE_CONSUMER_BATCH_SIZE": "0"})
    broken.start(wait_ready=False)
    try:
        deadline = time.monotonic() + 120
        answer: httpx.Response | None = None
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{broken.base_url}/healthz", timeout=2).status_code == 200:
                    answer = httpx.get(f"{broken.base_url}/readyz", timeout=10)
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
        assert answer is not None, "quarantine never answered /healthz"
        await asyncio.sleep(3)  # several restarts later it is still not ready
        answer = httpx.get(f"{broken.base_url}/readyz", timeout=10)
        body = answer.json()
        assert answer.status_code == 503, body
        assert body["database"] is True and body["broker"] is True
        assert body["consumer"] == "starting" and "consumer loop starting" in body["reasons"]
    finally:
        broken.stop()


async def test_a_healthy_consumer_service_is_ready_once_its_loop_has_partitions(infra: Infra, tmp_path: Path) -> None:
    service = make_service(infra, "quarantine", tmp_path)
    service.start()
    try:
        body = httpx.get(f"{service.base_url}/readyz", timeout=10).json()
        assert body == {"status": "ready", "database": True, "broker": True, "consumer": "running"}
    finally:
        service.stop()
