"""The outbox never loses an event: broker down, broker restarted empty (SPEC 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories.documents import webform
from tests.support.api import client
from tests.support.kafka import has_documents, read_topic
from tests.support.stack import ADMIN_KEY, Infra, make_service


async def _post_forms(base_url: str, count: int) -> set[str]:
    async with client(base_url, ADMIN_KEY) as http:
        ids = set()
        for _ in range(count):
            response = await http.post("/v1/webforms", json=webform())
            assert response.status_code == 202, response.text
            ids.add(response.json()["document_id"])
        return ids


@pytest.mark.slow
async def test_documents_accepted_while_broker_down_are_published_when_it_returns(
    fresh_infra: Infra, tmp_path: Path
) -> None:
    intake = make_service(fresh_infra, "intake", tmp_path, {"MAILINTAKE_KAFKA_REQUEST_TIMEOUT_MS": "3000"})
    intake.start()
    try:
        assert fresh_infra.broker is not None
        fresh_infra.broker.stop()
        accepted = await _post_forms(intake.base_url, 5)  # PostgreSQL is up: intake still accepts
        fresh_infra.broker.start()  # back, and empty
        events = await read_topic(fresh_infra.bootstrap, "mail.intake.received", has_documents(accepted), 60)
        assert accepted <= {e["document_id"] for e in events}
    finally:
        intake.stop()


@pytest.mark.slow
async def test_events_lost_by_a_broker_restart_are_republished_by_the_reconciler(
    fresh_infra: Infra, tmp_path: Path
) -> None:
    fast_reconciler = {"MAILINTAKE_RECONCILE_STUCK_AFTER_S": "2", "MAILINTAKE_RECONCILE_INTERVAL_S": "0.5"}
    intake = make_service(fresh_infra, "intake", tmp_path, fast_reconciler)
    intake.start()
    try:
        accepted = await _post_forms(intake.base_url, 3)
        first = await read_topic(fresh_infra.bootstrap, "mail.intake.received", has_documents(accepted))
        original_ids = {e["document_id"]: e["event_id"] for e in first}
        fresh_infra.restart_broker()  # everything published so far is gone from the broker
        again = await read_topic(fresh_infra.bootstrap, "mail.intake.received", has_documents(accepted), 60)
        # Same event ids: a consumer that had applied them skips them.
        assert {e["document_id"]: e["event_id"] for e in again if e["document_id"] in accepted} == {
            d: original_ids[d] for d in accepted
        }
        async with client(intake.base_url) as http:
            timeline = (await http.get(f"/v1/documents/{next(iter(accepted))}")).json()["timeline"]
        assert ("reconciler", "republished") in {(t["stage"], t["outcome"]) for t in timeline}
    finally:
        intake.stop()


@pytest.mark.slow
async def test_intake_answers_503_and_stores_nothing_while_postgres_is_down(fresh_infra: Infra, tmp_path: Path) -> None:
    intake = make_service(fresh_infra, "intake", tmp_path, {"MAILINTAKE_DB_CONNECT_TIMEOUT_S": "1"})
    intake.start()
    try:
        async with client(intake.base_url) as http:
            assert fresh_infra.postgres is not None
            fresh_infra.postgres.stop()
            for _ in range(3):  # the same keep-alive connection keeps getting clear answers
                down = await http.post("/v1/webforms", json=webform())
                assert down.status_code == 503, down.text
                assert down.json()["error"] == "unavailable" and down.headers["retry-after"]
            assert (await http.get("/readyz")).status_code == 503
            fresh_infra.postgres.start()
            intake.wait_ready()
            up = await http.post("/v1/webforms", json=webform())
            assert up.status_code == 202
    finally:
        intake.stop()
