"""Visibility (issue 16): one trace from intake to routing, logs with trace ids and nothing
personal, and lag and outbox-age gauges that move when a consumer stops.

The four services run as real processes on a PostgreSQL and broker of this module's own, with
`OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a small OTLP/HTTP receiver started here. Intake runs
no relay, and routing starts first, so routing holds the relay lock: stopping routing stops
both its consumer and the only relay that could publish.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.events import TOPIC_SCREENED, BlobRef, ClearedPart, DocumentScreenedV1, new_event
from mailintake_common.outbox import encode
from tests.factories.documents import page_image
from tests.support.api import client, wait_for_status
from tests.support.otlp import Receiver
from tests.support.stack import Infra, Service, make_service, start_local_infra

pytestmark = pytest.mark.slow

# A customer's own words: none of these may reach a log line, a span or a metric.
CRN = "305 118 624K"
NAME = "Marguerite Okonkwo-Baylis"
EMAIL = "m.okonkwo.baylis@postbox.example.net"


def letter(trace_note: str) -> dict[str, object]:
    message = (
        f"Hi, I'm writing because I moved house last month and I think my payments are still going to "
        f"the old account. My name is {NAME}, my CRN is {CRN}, and you can email me on {EMAIL} if you "
        f"need anything else. Thanks for your help. ({trace_note})"
    )
    return {
        "form_type": "change_of_circumstances",
        "submitted_at": "2026-11-30T09:05:00+11:00",
        "fields": {"full_name": NAME, "email": EMAIL, "message": message},
    }


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def own_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    infra, stoppables = start_local_infra(tmp_path_factory.mktemp("visibility"))
    try:
        yield infra
    finally:
        for thing in stoppables:
            thing.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def traced(
    own_infra: Infra, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Service]]:
    logs = tmp_path_factory.mktemp("visibility-logs")
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "NO_PROXY": "127.0.0.1,localhost",
        "MAILINTAKE_METRICS_REFRESH_INTERVAL_S": "0.5",
        "MAILINTAKE_RECONCILER_ENABLED": "false",  # nothing may move a stuck document but the test
    }
    services = {
        name: make_service(own_infra, name, logs, {**env, **extra})
        for name, extra in (
            ("routing", {}),
            ("intake", {"MAILINTAKE_RELAY_ENABLED": "false"}),
            ("quarantine", {}),
            ("classifier", {}),
        )
    }
    started: list[Service] = []
    try:
        services["routing"].start()  # first: its relay takes the lock
        started.append(services["routing"])
        for name in ("intake", "quarantine", "classifier"):
            services[name].start(wait_ready=False)
            started.append(services[name])
        for service in started:
            service.wait_ready()
        yield services
    finally:
        for service in started:
            if service.proc is not None:
                os.kill(service.proc.pid, signal.SIGCONT)
            service.stop()


async def post_letter(intake: Service, trace_note: str, headers: dict[str, str]) -> httpx.Response:
    async with client(intake.base_url) as http:
        response = await http.post("/v1/webforms", json=letter(trace_note), headers=headers)
    assert response.status_code == 202, response.text
    return response


async def wait_routed(intake: Service, document_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    async with client(intake.base_url) as http:
        return await wait_for_status(http, document_id, {"routed"}, timeout_s)


# -- 1. tracing ------------------------------------------------------------------------------


async def test_one_trace_runs_from_intake_to_routing(traced: dict[str, Service], receiver: Receiver) -> None:
    trace_id, caller_span = "6e0c63257de34c92bf9efcd03927272e", "b9c7c989f97918e1"
    response = await post_letter(traced["intake"], "trace one", {"traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert response.headers["traceparent"].startswith(f"00-{trace_id}-")  # echoed with intake's own span
    assert response.headers["x-trace-id"] == trace_id
    await wait_routed(traced["intake"], response.json()["document_id"])

    deadline = time.monotonic() + 30
    wanted = {"intake", "quarantine", "classifier", "routing"}
    while time.monotonic() < deadline:
        spans = [s for s in receiver.spans() if s["trace_id"] == trace_id]
        if wanted <= {s["service"] for s in spans}:
            break
        await asyncio.sleep(0.5)
    assert wanted <= {s["service"] for s in spans}, spans
    by_id = {s["span_id"]: s for s in spans}
    server = next(s for s in spans if s["service"] == "intake" and s["parent"] == caller_span)
    assert server["name"].startswith("POST")
    # Each stage continues from the span that wrote its input: a chain back to the caller.
    for stage in ("quarantine", "classifier", "routing"):
        consumed = next(s for s in spans if s["service"] == stage)
        assert consumed["parent"] in by_id, (stage, consumed)
    everything = b"".join(receiver.bodies)
    for personal in (CRN, NAME, EMAIL, "payments are still going"):
        assert personal.encode() not in everything


# -- 2. logs -------------------------------------------------------------------------------


def log_lines(service: Service) -> list[dict[str, Any]]:
    lines = []
    for raw in service.log_path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return lines


async def test_log_lines_carry_the_trace_and_nothing_personal(traced: dict[str, Service]) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    response = await post_letter(traced["intake"], "trace two", {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    document_id = response.json()["document_id"]
    await wait_routed(traced["intake"], document_id)
    async with client(traced["intake"].base_url) as http:
        # A query string that quotes a customer never reaches a log line.
        looked = await http.get(f"/v1/documents/{document_id}", params={"about": EMAIL}, headers={"x-trace-id": "t-2b"})
        assert looked.status_code == 200

    intake = log_lines(traced["intake"])
    posted = [line for line in intake if line.get("logger") == "mailintake.access" and line.get("trace_id") == trace_id]
    assert len(posted) == 1, posted
    access = posted[0]
    assert set(access) == {
        "ts", "level", "logger", "service", "msg", "trace_id", "method", "route", "status_code", "duration_ms"
    }  # fmt: skip
    assert (access["method"], access["route"], access["status_code"]) == ("POST", "/v1/webforms", 202)
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    read = next(line for line in intake if line.get("logger") == "mailintake.access" and line.get("trace_id") == "t-2b")
    assert (read["route"], read["status_code"]) == ("/v1/documents/{document_id}", 200)

    for name in ("quarantine", "classifier", "routing"):
        lines = log_lines(traced[name])
        handled = [
            line for line in lines if line.get("msg") == "event handled" and line.get("document_id") == document_id
        ]
        assert handled and all(line.get("trace_id") == trace_id for line in handled), (name, handled)
        # every line about this document was written inside its trace
        assert all(line.get("trace_id") == trace_id for line in lines if line.get("document_id") == document_id)

    for service in traced.values():
        whole = service.log_path.read_text(errors="replace")
        for personal in (CRN, NAME, EMAIL, EMAIL.replace("@", "%40"), "payments are still going"):
            assert personal not in whole, (service.name, personal)
        assert "tracing exported over OTLP" in whole


# -- 3. metrics under a stopped consumer -------------------------------------------------------


async def scrape(service: Service) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with httpx.AsyncClient(timeout=10) as http:
        body = (await http.get(f"{service.base_url}/metrics")).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def routing_lag(routing: Service) -> float:
    samples = (await scrape(routing)).get("mailintake_consumer_lag", [])
    return sum(v for labels, v in samples if labels["group"] == "routing" and labels["topic"].endswith("classified"))


async def outbox_age(service: Service) -> float:
    return (await scrape(service))["mailintake_outbox_oldest_unpublished_seconds"][0][1]


async def eventually(probe: Any, check: Any, timeout_s: float = 60.0) -> float:
    deadline = time.monotonic() + timeout_s
    value = await probe()
    while not check(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"gauge stayed at {value}")
        await asyncio.sleep(0.3)
        value = await probe()
    return float(value)


async def test_lag_and_outbox_age_rise_while_routing_is_stopped_and_fall_after(
    traced: dict[str, Service], own_infra: Infra
) -> None:
    intake, routing = traced["intake"], traced["routing"]
    assert (await scrape(routing))["mailintake_relay_leader"][0][1] == 1.0
    await eventually(lambda: routing_lag(routing), lambda v: v == 0)

    # Routing's consumer loop stops: its handler waits on a table a test transaction holds.
    engine = create_async_engine(own_infra.database_url)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("BEGIN"))
            await holder.execute(text("LOCK TABLE queue_items IN SHARE MODE"))
            waiting = [(await post_letter(intake, f"lag {i}", {})).json()["document_id"] for i in range(3)]
            lag = await eventually(lambda: routing_lag(routing), lambda v: v >= 2)
            assert lag <= 3
            await holder.execute(text("ROLLBACK"))
    finally:
        await engine.dispose()
    await eventually(lambda: routing_lag(routing), lambda v: v == 0)
    for document_id in waiting:
        await wait_routed(intake, document_id)

    # The whole routing process stops: it is the relay, so intake's events wait in the outbox.
    assert routing.proc is not None
    os.kill(routing.proc.pid, signal.SIGSTOP)
    try:
        held = (await post_letter(intake, "held", {})).json()["document_id"]
        first = await eventually(lambda: outbox_age(intake), lambda v: v >= 1.0, 30)
        later = await eventually(lambda: outbox_age(intake), lambda v: v >= first + 1.0, 30)
        assert later > first
    finally:
        os.kill(routing.proc.pid, signal.SIGCONT)
    await eventually(lambda: outbox_age(intake), lambda v: v == 0, 60)
    await wait_routed(intake, held)
    await eventually(lambda: routing_lag(routing), lambda v: v == 0, 30)


async def dlq_depth(service: Service, group: str) -> float:
    samples = (await scrape(service)).get("mailintake_dlq_depth", [])
    return sum(v for labels, v in samples if labels["group"] == group)


async def test_dlq_depth_counts_a_dead_letter_until_it_is_retried(traced: dict[str, Service], own_infra: Infra) -> None:
    """The classifier gives up on a part missing from the blob store; once the part is there, a retry
    applies the event and the dead letter no longer counts."""
    intake = traced["intake"]
    document_id = (await post_letter(intake, "dlq", {})).json()["document_id"]
    await wait_routed(intake, document_id)
    assert await dlq_depth(traced["routing"], "classifier") == 0
    content = f"Please see my new bank details, sent {uuid.uuid4().hex}".encode()
    blob = BlobRef(sha256=hashlib.sha256(content).hexdigest(), size=len(content), media_type="text/plain")
    screened = DocumentScreenedV1(
        channel="webform",
        received_at=datetime.now(UTC),
        form_type="change_of_circumstances",
        verdict="clear",
        cleared_parts=[ClearedPart(part_id="p1", kind="text_body", media_type="text/plain", blob=blob)],
    )
    event = new_event(document_id, screened)
    producer = AIOKafkaProducer(bootstrap_servers=own_infra.bootstrap, acks="all")
    await producer.start()
    try:
        headers = [("event_type", event.event_type.encode())]
        await producer.send_and_wait(TOPIC_SCREENED, encode(event), key=document_id.encode(), headers=headers)
    finally:
        await producer.stop()
    async with client(intake.base_url) as http:
        await wait_for_status(http, document_id, {"failed"}, 90)
    await eventually(lambda: dlq_depth(traced["routing"], "classifier"), lambda v: v == 1)

    engine = create_async_engine(own_infra.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO blobs (sha256, size, media_type, content) VALUES (:s, :n, 'text/plain', :c)"),
                {"s": blob.sha256, "n": blob.size, "c": content},
            )
    finally:
        await engine.dispose()
    async with client(intake.base_url) as http:
        assert (await http.post(f"/v1/documents/{document_id}/retry")).status_code == 202
    await wait_routed(intake, document_id)
    await eventually(lambda: dlq_depth(traced["routing"], "classifier"), lambda v: v == 0)


async def test_metrics_list_every_gauge_without_personal_details(traced: dict[str, Service]) -> None:
    await wait_routed(traced["intake"], (await post_letter(traced["intake"], "gauges", {})).json()["document_id"])
    routing = await scrape(traced["routing"])
    documents = {labels["status"]: v for labels, v in routing["mailintake_documents"]}
    assert documents["routed"] >= 1 and set(documents) == {"received", "screened", "classified", "routed", "failed"}
    for name in ("mailintake_reconciler_gave_up_total", "mailintake_outbox_unpublished", "mailintake_dlq_depth"):
        assert name in routing
    async with client(traced["intake"].base_url) as http:
        scan = page_image("Dear Agency, I enclose my new rental agreement as you asked on the phone.")
        posted = await http.post("/v1/scans", files={"file": ("page1.png", scan, "image/png")})
        assert posted.status_code == 202, posted.text
        await wait_for_status(http, posted.json()["document_id"], {"routed"}, 180)
    classifier = await scrape(traced["classifier"])
    assert classifier["mailintake_ocr_pages_total"][0][1] >= 1
    assert classifier["mailintake_ocr_page_seconds_count"][0][1] >= 1
    assert classifier["mailintake_ocr_page_seconds_sum"][0][1] > 0
    for service in traced.values():
        async with httpx.AsyncClient(timeout=10) as http:
            body = (await http.get(f"{service.base_url}/metrics")).text
        for personal in (CRN, NAME, EMAIL):
            assert personal not in body
