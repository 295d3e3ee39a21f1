"""Work after routing and recovery through the real services and the `mailintake` command
(SPEC 3 "Work after routing", issue 16):

- an officer completes a queue item: it leaves depth and overdue, the items list filters by
  status, a second completion is 409, and the timeline names the officer's key;
- a document fails at the classifier (a part it must read is missing from the blob store),
  is listed with the stage and reason, the cause is fixed, it is retried and is routed;
- the same failure's dead letter is listed through the service that owns the topic, replayed,
  processed again and the document routed;
- a reroute attaches an organisation, and a held item is listed and released with the command;
  each action is on the timeline with the name of the key that did it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from mailintake_common.events import TOPIC_SCREENED
from tests.factories import quarantine_files as qfiles
from tests.factories.documents import email_bytes
from tests.support import faults
from tests.support.api import client, create_key, wait_for_status
from tests.support.cli import as_json, mailintake
from tests.support.faults import LETTER, put_blob, sql
from tests.support.stack import Infra, Service

CUSTOMER = {
    "customer_id": "WORK-ROBIN",
    "crn": "402718293R",
    "given_name": "Robin",
    "family_name": "Marsh",
    "emails": ["robin.marsh.work@example.org"],
    "racs_level": 0,
}


async def until(check: Callable[[], Any], timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.5)
    raise TimeoutError("condition never held")


@pytest.fixture(scope="module")
def directory(stack: dict[str, Service]) -> None:
    async def load() -> None:
        async with client(stack["routing"].base_url) as routing:
            assert (await routing.put("/v1/directory/customers", json=[CUSTOMER])).status_code == 200

    asyncio.run(load())


async def routed_letter(stack: dict[str, Service], body: str) -> dict[str, Any]:
    raw = email_bytes(subject="New address", sender=CUSTOMER["emails"][0], body=f"{body}\n\n{uuid.uuid4().hex}")
    async with client(stack["intake"].base_url) as intake:
        response = await intake.post("/v1/emails?mailbox=edc", content=raw, headers={"Content-Type": "message/rfc822"})
        assert response.status_code == 202, response.text
        return await wait_for_status(intake, response.json()["document_id"], {"routed"}, 120)


async def fail_at_the_classifier(stack: dict[str, Service], infra: Infra) -> tuple[str, bytes]:
    """A routed document the classifier then gives up on; its id and the missing content."""
    doc = await routed_letter(stack, "A first letter about my address.")
    return doc["document_id"], await faults.fail_at_the_classifier(stack["intake"].base_url, infra, doc["document_id"])


async def test_an_officer_completes_an_item_and_it_leaves_depth_and_overdue(
    stack: dict[str, Service], infra: Infra, directory: None
) -> None:
    doc = await routed_letter(stack, LETTER)
    document_id, queue = doc["document_id"], doc["routing"]["queue"]
    await sql(  # overdue, priority and the queue's oldest item: it counts in each figure until completed
        infra,
        "UPDATE queue_items SET due_by = now() - interval '1 hour', priority = true, "
        "routed_at = '2001-02-03T04:05:06Z' WHERE document_id = :d",
        d=document_id,
    )
    officer = await create_key(stack["intake"].base_url, ["ops:read", "ops:write"], name="officer Dana (team 3)")
    reader = await create_key(stack["intake"].base_url, ["ops:read"], name="reader")

    def depth() -> dict[str, Any]:
        return next(q for q in as_json(mailintake(stack, "queues", "--json", key=officer)) if q["queue"] == queue)

    before = await asyncio.to_thread(depth)
    assert before["overdue"] >= 1 and before["depth"] >= 1 and before["priority_depth"] >= 1
    assert before["oldest_at"].startswith("2001-02-03T04:05:06")
    refused = mailintake(stack, "items", "complete", queue, document_id, "--outcome", "attached", key=reader)
    assert refused.returncode == 1 and "403" in refused.stderr

    done = as_json(
        mailintake(
            stack,
            "items",
            "complete",
            queue,
            document_id,
            "--outcome",
            "attached",
            "--note",
            "rang back",
            "--json",
            key=officer,
        )
    )
    assert done["status"] == "completed" and "officer Dana (team 3)" in done["completed_by"]
    after = await asyncio.to_thread(depth)
    assert after["overdue"] == before["overdue"] - 1
    assert after["priority_depth"] == before["priority_depth"] - 1
    assert not (after["oldest_at"] or "").startswith("2001-02-03")

    async with client(stack["routing"].base_url, officer) as routing:
        again = await routing.post(f"/v1/queues/{queue}/items/{document_id}/complete", json={"outcome": "attached"})
        assert again.status_code == 409 and again.json()["error"] == "item_already_completed"
        listed = {}
        for status in ("open", "completed", "all"):
            page = (await routing.get(f"/v1/queues/{queue}/items", params={"status": status, "limit": 500})).json()
            listed[status] = {i["document_id"]: i for i in page["items"]}
        default = (await routing.get(f"/v1/queues/{queue}/items", params={"limit": 500})).json()["items"]
    assert document_id not in listed["open"] and document_id not in {i["document_id"] for i in default}
    assert listed["completed"][document_id]["outcome"] == "attached"
    assert document_id in listed["all"]
    assert after["depth"] == len(listed["open"]) or after["depth"] < before["depth"]
    async with client(stack["intake"].base_url) as intake:
        steps = (await intake.get(f"/v1/documents/{document_id}")).json()["timeline"]
    completed = [s for s in steps if s["stage"] == "queue" and s["outcome"] == "completed"]
    assert completed and "officer Dana (team 3)" in completed[0]["reasons"][0]
    assert not any("rang back" in r for s in steps for r in s["reasons"])


async def test_a_failed_document_is_listed_retried_and_routed(
    stack: dict[str, Service], infra: Infra, directory: None
) -> None:
    document_id, content = await fail_at_the_classifier(stack, infra)

    listed = as_json(mailintake(stack, "failed", "list", "--json"))
    mine = [f for f in listed if f["document_id"] == document_id]
    assert mine and mine[0]["stage"] == "classifier" and "after" in mine[0]["reasons"][0]
    assert mine[0]["reason"] == "; ".join(mine[0]["reasons"])
    # A failed document's RACS level is not yet known: only racs:3 lists it (issue 15).
    reader = await create_key(stack["intake"].base_url, ["ops:read", "ops:write", "racs:3"], name="not an admin")
    async with client(stack["intake"].base_url, reader) as intake:
        assert (await intake.post(f"/v1/documents/{document_id}/retry")).status_code == 403
        page = (await intake.get("/v1/documents", params={"status": "failed", "limit": 500})).json()
        assert document_id in {i["document_id"] for i in page["items"]}

    await put_blob(infra, content)  # the cause is fixed
    retried = as_json(mailintake(stack, "--json", "failed", "retry", document_id))
    assert retried["status"] == "screened" and retried["topic"] == TOPIC_SCREENED
    async with client(stack["intake"].base_url) as intake:
        doc = await wait_for_status(intake, document_id, {"routed"}, 90)
        again = await intake.post(f"/v1/documents/{document_id}/retry")
    assert again.status_code == 409 and again.json()["error"] == "not_failed"
    stages = [(s["stage"], s["outcome"]) for s in doc["timeline"]]
    assert stages.index(("retry", "requested")) < len(stages) - 1
    assert stages[-1][0] in {"routing", "alert"} and doc["classification"]["identifiers"]["crn"] == ["402718293R"]
    retry_step = next(s for s in doc["timeline"] if s["stage"] == "retry")
    assert "bootstrap admin" in retry_step["reasons"][0]
    assert document_id not in {f["document_id"] for f in as_json(mailintake(stack, "failed", "list", "--json"))}


async def test_a_dead_letter_is_listed_replayed_and_the_document_routed(
    stack: dict[str, Service], infra: Infra, directory: None
) -> None:
    document_id, content = await fail_at_the_classifier(stack, infra)

    def letter() -> dict[str, Any] | None:
        rows = as_json(mailintake(stack, "dlq", "list", "--json"))
        mine = [r for r in rows if r["document_id"] == document_id and r["topic"] == TOPIC_SCREENED]
        return mine[-1] if mine else None

    dead = await until(letter)
    assert dead["dlq_topic"] == f"{TOPIC_SCREENED}.dlq" and not dead["processed_since"]
    assert dead["consumer"] == "classifier" and "after" in dead["error"]
    officer = await create_key(stack["intake"].base_url, ["ops:read", "ops:write"], name="officer, not admin")
    async with client(stack["classifier"].base_url, officer) as classifier:
        assert (await classifier.get("/v1/dlq")).status_code == 403

    await put_blob(infra, content)
    replayed = as_json(mailintake(stack, "dlq", "replay", dead["id"], "--json"))
    assert replayed["document_id"] == document_id and replayed["topic"] == TOPIC_SCREENED
    async with client(stack["intake"].base_url) as intake:
        doc = await wait_for_status(intake, document_id, {"routed"}, 90)
    assert any(s["stage"] == "dlq" and s["outcome"] == "replayed" for s in doc["timeline"])
    assert doc["classification"]["identifiers"]["crn"] == ["402718293R"]
    processed = await until(lambda: (found := letter()) and found["processed_since"] and found)
    assert processed["id"] == dead["id"]


async def test_a_reroute_attaches_an_organisation_and_the_timeline_names_the_key(
    stack: dict[str, Service], directory: None
) -> None:
    """SPEC 3: reroute may attach an organisation; every action is on the timeline with the key's name."""
    employer = {
        "organisation_id": f"WORK-ORG-{uuid.uuid4().hex[:8]}",
        "name": "Ironbark Haulage",
        "abn": None,
        "email_domains": [],
        "kind": "employer",
    }
    raw = email_bytes(subject="Deductions", sender="payroll@nowhere.example", body=f"Deductions. {uuid.uuid4().hex}")
    async with client(stack["intake"].base_url) as intake:
        posted = await intake.post("/v1/emails?mailbox=edc", content=raw, headers={"Content-Type": "message/rfc822"})
        doc = await wait_for_status(intake, posted.json()["document_id"], {"routed"}, 120)
    document_id, queue = doc["document_id"], doc["routing"]["queue"]
    lead = await create_key(stack["intake"].base_url, ["admin"], name="team lead Priya")
    async with client(stack["routing"].base_url, lead) as routing:
        assert (await routing.put("/v1/directory/organisations", json=[employer])).status_code == 200
        moved = await routing.post(
            f"/v1/queues/{queue}/items/{document_id}/reroute",
            json={"queue": "employer", "reason": "payroll letter", "organisation_id": employer["organisation_id"]},
        )
    assert moved.status_code == 200, moved.text
    assert moved.json()["organisation_id"] == employer["organisation_id"]
    async with client(stack["intake"].base_url) as intake:
        after = (await intake.get(f"/v1/documents/{document_id}")).json()
    assert (after["routing"]["queue"], after["routing"]["organisation_id"]) == ("employer", employer["organisation_id"])
    step = [s for s in after["timeline"] if s["stage"] == "routing"][-1]
    assert step["outcome"] == "employer" and any("team lead Priya" in r for r in step["reasons"]), step


async def test_a_held_item_is_listed_and_released_with_the_cli_and_the_timeline_names_the_key(
    stack: dict[str, Service],
) -> None:
    """`mailintake quarantine list|release` (issue 16): a manual-adjustment email is listed with its
    reason, released by a named admin key, and the release is on the timeline with that name."""
    big = qfiles.email_with([("scan.pdf", b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024), "application/pdf")])
    async with client(stack["intake"].base_url) as intake:
        posted = await intake.post("/v1/emails?mailbox=edc", content=big, headers={"Content-Type": "message/rfc822"})
        document_id = posted.json()["document_id"]
        await wait_for_status(intake, document_id, {"screened", "classified", "routed"}, 120)
    mailbox_team = await create_key(stack["intake"].base_url, ["admin"], name="mailbox team Ana")

    held = as_json(mailintake(stack, "quarantine", "list", "--reason", "size", "--limit", "10000", "--json"))
    mine = [h for h in held if h["document_id"] == document_id]
    assert mine and mine[0]["verdict"] == "manual_adjustment" and mine[0]["releasable"], mine
    human = mailintake(stack, "quarantine", "list", "--reason", "size", "--limit", "10000")
    assert human.returncode == 0 and "manual_adjustment" in human.stdout

    released = mailintake(stack, "--json", "quarantine", "release", document_id, "--reason", "split", key=mailbox_team)
    assert as_json(released) == {"document_id": document_id, "status": "released", "verdict": "clear"}
    again = mailintake(stack, "quarantine", "release", document_id, key=mailbox_team)
    assert again.returncode == 1 and "409" in again.stderr
    async with client(stack["intake"].base_url) as intake:
        steps = (await wait_for_status(intake, document_id, {"routed"}, 120))["timeline"]
    release = [s for s in steps if s["stage"] == "quarantine" and s["outcome"] == "clear"]
    assert release and "mailbox team Ana" in release[0]["reasons"][0], steps
