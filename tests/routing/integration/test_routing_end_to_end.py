"""Documents posted to intake land in the expected queues, with the routing block, queue
topics, alerts, RACS invisibility, reroutes and the dashboard."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from tests.factories import quarantine_files as qfiles
from tests.factories.documents import email_bytes
from tests.support.api import client, create_key, wait_for_status
from tests.support.browser import dashboard_in_chromium
from tests.support.kafka import read_topic
from tests.support.stack import ADMIN_KEY, Infra, Service

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
EMAIL = {"Content-Type": "message/rfc822"}
CUSTOMERS = [
    {
        "customer_id": "E2E-ALEX",
        "crn": "246813579A",
        "given_name": "Alex",
        "family_name": "Demo",
        "date_of_birth": "1985-04-12",
        "emails": ["alex.e2e@example.org"],
        "racs_level": 0,
    },
    {
        "customer_id": "E2E-SAM",
        "crn": "135792468B",
        "given_name": "Sam",
        "family_name": "Sample",
        "date_of_birth": "1990-09-30",
        "emails": [],
        "racs_level": 0,
    },
    {
        "customer_id": "E2E-ROBIN",
        "crn": "864297531C",
        "given_name": "Robin",
        "family_name": "Guarded",
        "date_of_birth": "1979-01-05",
        "emails": [],
        "racs_level": 2,
    },
]
ORGANISATIONS = [
    {
        "organisation_id": "E2E-WIDGETS",
        "name": "Widgets",
        "abn": "33102417032",
        "email_domains": ["widgets-e2e.example.com"],
        "kind": "employer",
        "secure_messaging": True,
        "in_liquidation": False,
    },
]


def unique(text: str) -> str:
    return f"{text}\n\nReference {uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def routed(stack: dict[str, Service]) -> dict[str, dict[str, object]]:
    return asyncio.run(_post_everything(stack))


async def _post_everything(stack: dict[str, Service]) -> dict[str, dict[str, object]]:
    async with client(stack["routing"].base_url) as routing:
        assert (await routing.put("/v1/directory/customers", json=CUSTOMERS)).status_code == 200
        assert (await routing.put("/v1/directory/organisations", json=ORGANISATIONS)).status_code == 200
    emails = {
        "objection": email_bytes(
            subject="Objection", sender="alex.e2e@example.org", body=unique("I object to the decision.")
        ),
        "court": email_bytes(
            sender="lawyer@example.net", body=unique("Court order attached. The court orders ... CRN 135792468B")
        ),
        "racs": email_bytes(sender="someone@example.net", body=unique("Change of circumstances, CRN 864297531C")),
        "employer": email_bytes(
            sender="payroll@widgets-e2e.example.com",
            body=unique("Employer deduction notice: deductions from wages. ABN 33 102 417 032"),
        ),
        "quarantined": qfiles.email_with(
            [("run.exe", qfiles.windows_exe(), "application/octet-stream")],
            sender="alex.e2e@example.org",
            body=unique("see attached"),
        ),
        "unidentified": email_bytes(sender="nobody@example.net", body=unique("Change of circumstances: new job.")),
        "at_risk": email_bytes(sender="alex.e2e@example.org", body=unique("I can't keep going like this.")),
    }
    results: dict[str, dict[str, object]] = {}
    async with client(stack["intake"].base_url) as intake:
        ids = {}
        for name, raw in emails.items():
            response = await intake.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL)
            assert response.status_code == 202, response.text
            ids[name] = response.json()["document_id"]
        for name, document_id in ids.items():
            results[name] = await wait_for_status(intake, document_id, {"routed", "failed"}, 120)
    return results


def test_documents_land_in_the_expected_queues_with_the_routing_block(routed: dict[str, dict]) -> None:
    queues = {name: doc["routing"]["queue"] for name, doc in routed.items()}
    assert queues == {
        "objection": "assessment",
        "court": "court",
        "racs": "racs",
        "employer": "employer",
        "quarantined": "correspondence",
        "unidentified": "unidentified-customer",
        "at_risk": "correspondence",
    }
    objection = routed["objection"]["routing"]
    assert objection["customer_ids"] == ["E2E-ALEX"] and objection["exemption"] is False
    assert set(objection) == {
        "queue",
        "category",
        "sub_category",
        "exemption",
        "priority",
        "due_by",
        "customer_ids",
        "organisation_id",
        "reasons",
    }
    court = routed["court"]["routing"]
    assert court["priority"] is True and court["due_by"] and court["customer_ids"] == ["E2E-SAM"]
    assert routed["employer"]["routing"]["organisation_id"] == "E2E-WIDGETS"
    assert routed["quarantined"]["routing"]["sub_category"] == "quarantine-notification"
    assert any(t["stage"] == "routing" for t in routed["objection"]["timeline"])


async def test_queue_topics_and_alerts_hold_them(
    routed: dict[str, dict], stack: dict[str, Service], infra: Infra
) -> None:
    objection_id = routed["objection"]["document_id"]
    await read_topic(
        infra.bootstrap, "mail.queue.assessment", lambda vs: objection_id in {v["document_id"] for v in vs}, 60
    )
    at_risk_id = routed["at_risk"]["document_id"]
    alerts = await read_topic(
        infra.bootstrap, "mail.alerts.at-risk", lambda vs: at_risk_id in {v["document_id"] for v in vs}, 60
    )
    raised = [a["payload"] for a in alerts if a["document_id"] == at_risk_id]
    assert any(a["categories"] and a["parts"] for a in raised) and not any("matches" in a for a in raised)
    assert all(a["payload"]["detector"].startswith("lexicon-") for a in alerts if a["document_id"] == at_risk_id)
    async with client(stack["routing"].base_url) as http:
        listed = (await http.get("/v1/alerts?status=open")).json()["items"]
        assert at_risk_id in {a["document_id"] for a in listed}
        queues = {q["queue"]: q for q in (await http.get("/v1/queues")).json()}
        assert queues["court"]["priority_depth"] >= 1 and queues["assessment"]["depth"] >= 1
        assert "specified-image" in queues  # every known queue is listed, even empty ones
        items = (await http.get("/v1/queues/assessment/items?limit=500")).json()["items"]
        assert objection_id in {i["document_id"] for i in items}


async def test_racs_documents_are_404_without_racs_scope(routed: dict[str, dict], stack: dict[str, Service]) -> None:
    racs_id = routed["racs"]["document_id"]
    plain = await create_key(stack["intake"].base_url, ["ops:read"])
    low = await create_key(stack["intake"].base_url, ["ops:read", "racs:1"])
    high = await create_key(stack["intake"].base_url, ["ops:read", "racs:2"])
    async with client(stack["intake"].base_url, plain) as http:
        assert (await http.get(f"/v1/documents/{racs_id}")).status_code == 404
    async with client(stack["intake"].base_url, low) as http:
        assert (await http.get(f"/v1/documents/{racs_id}")).status_code == 404
    async with client(stack["intake"].base_url, high) as http:
        assert (await http.get(f"/v1/documents/{racs_id}")).status_code == 200
    async with client(stack["routing"].base_url, plain) as http:
        assert racs_id not in str((await http.get("/v1/queues/racs/items")).json())
        assert "racs" not in {q["queue"] for q in (await http.get("/v1/queues")).json() if q["depth"]}
    async with client(stack["routing"].base_url, high) as http:
        assert racs_id in str((await http.get("/v1/queues/racs/items?limit=500")).json())


async def test_reroute_is_audited_and_shown(routed: dict[str, dict], stack: dict[str, Service]) -> None:
    document_id = routed["unidentified"]["document_id"]
    async with client(stack["routing"].base_url) as http:
        bad = await http.post(
            f"/v1/queues/unidentified-customer/items/{document_id}/reroute", json={"queue": "nowhere", "reason": "x"}
        )
        assert bad.status_code == 422
        moved = await http.post(
            f"/v1/queues/unidentified-customer/items/{document_id}/reroute",
            json={"queue": "non-customer", "reason": "sender is a bank, not a customer"},
        )
        assert moved.status_code == 200, moved.text
        again = await http.post(
            f"/v1/queues/unidentified-customer/items/{document_id}/reroute",
            json={"queue": "non-customer", "reason": "twice"},
        )
        assert again.status_code == 404
    async with client(stack["intake"].base_url) as http:
        doc = (await http.get(f"/v1/documents/{document_id}")).json()
    assert doc["routing"]["queue"] == "non-customer"
    assert any("rerouted from unidentified-customer" in r for r in doc["routing"]["reasons"])


async def test_directory_rejects_bad_crns_and_abns_naming_the_record(stack: dict[str, Service]) -> None:
    async with client(stack["routing"].base_url) as http:
        bad_crn = await http.put("/v1/directory/customers", json=[{**CUSTOMERS[0], "customer_id": "X-9", "crn": "12A"}])
        assert bad_crn.status_code == 422 and "X-9" in bad_crn.json()["detail"]
        bad_abn = await http.put("/v1/directory/organisations", json=[{**ORGANISATIONS[0], "abn": "33102417033"}])
        assert bad_abn.status_code == 422 and bad_abn.json()["error"] == "invalid_abn"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/system-deps.sh)")
def test_dashboard_shows_the_counts_in_headless_chromium(routed: dict[str, dict], stack: dict[str, Service]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    seen = dashboard_in_chromium(stack["routing"].base_url, ADMIN_KEY, shot)
    assert "updated" in seen.dom, seen.log[-2000:]
    assert routed["objection"]["document_id"] in seen.dom or "assessment" in seen.dom
    summary = httpx.get(f"{stack['routing'].base_url}/v1/dashboard/summary", headers={"X-API-Key": ADMIN_KEY}).json()
    assert f'id="open_alerts">{summary["open_alerts"]}<' in seen.dom
    assert f'id="acknowledged_alerts">{summary["acknowledged_alerts"]}<' in seen.dom
    assert summary["open_alerts"] >= 1  # the at-risk email's alert
    assert 'id="open_alerts_oldest">-<' not in seen.dom and 'id="open_alerts_oldest">' in seen.dom
    assert shot.exists() and shot.stat().st_size > 10_000


async def test_a_crn_held_by_another_customer_is_a_conflict(stack: dict[str, Service]) -> None:
    async with client(stack["routing"].base_url) as http:
        first = {**CUSTOMERS[0], "customer_id": "CONFLICT-1", "crn": "192837465Z"}
        assert (await http.put("/v1/directory/customers", json=[first])).status_code == 200
        clash = await http.put("/v1/directory/customers", json=[{**first, "customer_id": "CONFLICT-2"}])
        assert clash.status_code == 409 and "CONFLICT-2" in clash.json()["detail"]
        twice = await http.put("/v1/directory/customers", json=[first, {**first, "customer_id": "CONFLICT-3"}])
        assert twice.status_code == 422
