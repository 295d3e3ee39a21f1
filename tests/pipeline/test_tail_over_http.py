"""`mailintake tail` reads a queue's events through routing's authenticated API, not the broker
(issue 15), through the real services:

- the newest events of a queue, then `--follow` printing a document routed while it waits;
- ids, event types and decisions only: none of the customer's name, CRN, address or letter;
- RACS as everywhere: a key without racs scope never sees a restricted customer's document, a
  racs:3 key does; a key without ops:read is refused;
- the feed's cursors: older pages, `after` for new events, a cursor it never gave is 422.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from tests.factories.documents import email_bytes
from tests.support.api import client, create_key, wait_for_status
from tests.support.stack import ADMIN_KEY, Service

PLAIN = {
    "customer_id": "TAIL-JUNE",
    "crn": "318664027K",
    "given_name": "Junie",
    "family_name": "Okonkwo-Hart",
    "date_of_birth": "1988-02-14",
    "emails": ["junie.oh.tail@example.net"],
    "racs_level": 0,
}
GUARDED = {
    "customer_id": "TAIL-PERRY",
    "crn": "427735018W",
    "given_name": "Peregrine",
    "family_name": "Vasquez-Lund",
    "date_of_birth": "1979-09-30",
    "emails": ["p.vlund.tail@example.net"],
    "racs_level": 2,
}
JUNIE_LETTER = (
    "Hi there,\n\nJust a quick one - we've moved from Narrabundah to 6 Quandong Street, Hackett, "
    "as of the weekend, so please send anything for me there from now on. My customer number "
    "is 318 664 027K.\n\nCheers,\nJunie"
)
PERRY_LETTER = (
    "To whom it may concern,\n\nI am writing about the review of my assessment. I started a new "
    "contract at the hospital on the 3rd and my hours have gone down, so I'd like the estimate "
    "looked at again. CRN 427735018W.\n\nRegards,\nPeregrine"
)
SECRETS = [
    *(PLAIN[k] for k in ("crn", "given_name", "family_name")),
    *(GUARDED[k] for k in ("crn", "given_name", "family_name")),
    "318 664 027K",
    "Quandong",
    "Hackett",
    "hospital",
    PLAIN["emails"][0],
    GUARDED["emails"][0],
]


def cli_command(stack: dict[str, Service], *args: str) -> list[str]:
    return [sys.executable, "-c", "from mailintake_cli.main import main; main()", *args]


def cli_env(stack: dict[str, Service], key: str) -> dict[str, str]:
    env = dict(os.environ, MAILINTAKE_API_KEY=key)
    env.pop("MAILINTAKE_KAFKA_BOOTSTRAP", None)  # the command needs no broker at all
    for name, service in stack.items():
        env[f"MAILINTAKE_{name.upper()}_URL"] = service.base_url
    return env


def mailintake(stack: dict[str, Service], *args: str, key: str = ADMIN_KEY) -> subprocess.CompletedProcess[str]:
    command = cli_command(stack, *args)
    return subprocess.run(command, env=cli_env(stack, key), capture_output=True, text=True, timeout=120)


def json_lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


async def send_letter(stack: dict[str, Service], customer: dict[str, Any], body: str) -> dict[str, Any]:
    raw = email_bytes(subject="My details", sender=customer["emails"][0], body=f"{body}\n\n(ref {uuid.uuid4().hex})")
    async with client(stack["intake"].base_url) as intake:
        response = await intake.post("/v1/emails?mailbox=edc", content=raw, headers={"Content-Type": "message/rfc822"})
        assert response.status_code == 202, response.text
        return await wait_for_status(intake, response.json()["document_id"], {"routed"}, 180)


@pytest.fixture(scope="module")
def routed(stack: dict[str, Service]) -> dict[str, dict[str, Any]]:
    async def setup() -> dict[str, dict[str, Any]]:
        async with client(stack["routing"].base_url) as routing:
            response = await routing.put("/v1/directory/customers", json=[PLAIN, GUARDED])
            assert response.status_code == 200, response.text
        junie, perry = await asyncio.gather(
            send_letter(stack, PLAIN, JUNIE_LETTER), send_letter(stack, GUARDED, PERRY_LETTER)
        )
        return {"junie": junie, "perry": perry}

    return asyncio.run(setup())


def test_tail_prints_a_queues_newest_events_with_ids_and_decisions_only(
    stack: dict[str, Service], routed: dict[str, dict[str, Any]]
) -> None:
    junie = routed["junie"]
    queue = junie["routing"]["queue"]
    entries = json_lines(mailintake(stack, "tail", queue, "-n", "200", "--json"))
    mine = [e for e in entries if e["document_id"] == junie["document_id"]]
    assert len(mine) == 1, entries
    entry = mine[0]
    assert entry["event_type"] == "document.queued" and entry["queue"] == queue
    assert entry["customer_ids"] == [PLAIN["customer_id"]] and entry["priority"] is False
    assert set(entry) == {
        "event_id", "event_type", "schema_version", "document_id", "occurred_at", "published_at",
        "queue", "category", "sub_category", "exemption", "priority", "due_by", "at_risk",
        "customer_ids", "organisation_id",
    }  # fmt: skip
    assert [e["published_at"] for e in entries] == sorted(e["published_at"] for e in entries)  # oldest first
    human = mailintake(stack, "tail", queue, "-n", "200")
    assert human.returncode == 0 and junie["document_id"] in human.stdout and f"  {queue}  " in human.stdout
    for text in (human.stdout, json.dumps(entries)):
        assert not [s for s in SECRETS if s.lower() in text.lower()]


def test_tail_follow_prints_what_is_routed_while_it_waits(
    stack: dict[str, Service], routed: dict[str, dict[str, Any]]
) -> None:
    queue = routed["junie"]["routing"]["queue"]
    args = ("tail", queue, "-n", "1", "--follow", "--json", "--max-messages", "2", "--interval", "0.5")
    follower = subprocess.Popen(
        cli_command(stack, *args, "--timeout", "150"),
        env=cli_env(stack, ADMIN_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())  # the newest event: it is now following
        later = asyncio.run(send_letter(stack, PLAIN, "One more thing: my mobile number has changed too."))
        second = json.loads(follower.stdout.readline())
        assert follower.wait(60) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
    assert first["document_id"] != later["document_id"]
    assert second["document_id"] == later["document_id"] and second["queue"] == queue


async def test_a_key_sees_only_the_racs_levels_it_holds(
    stack: dict[str, Service], routed: dict[str, dict[str, Any]]
) -> None:
    perry = routed["perry"]
    assert perry["routing"]["queue"] == "racs"
    plain_reader = await create_key(stack["intake"].base_url, ["ops:read"], name="tail plain reader")
    racs_reader = await create_key(stack["intake"].base_url, ["ops:read", "racs:3"], name="tail racs reader")
    shown = {
        e["document_id"] for e in json_lines(mailintake(stack, "tail", "racs", "-n", "500", "--json", key=racs_reader))
    }
    hidden = {
        e["document_id"] for e in json_lines(mailintake(stack, "tail", "racs", "-n", "500", "--json", key=plain_reader))
    }
    assert perry["document_id"] in shown and perry["document_id"] not in hidden
    writer = await create_key(stack["intake"].base_url, ["intake:write"], name="tail scanner")
    refused = mailintake(stack, "tail", "racs", key=writer)
    assert refused.returncode == 1 and "403" in refused.stderr
    unknown = mailintake(stack, "tail", "racs", key="mik_" + "x" * 43)
    assert unknown.returncode == 1 and "401" in unknown.stderr


async def test_the_feed_pages_back_and_polls_forward_by_cursor(
    stack: dict[str, Service], routed: dict[str, dict[str, Any]]
) -> None:
    queue = routed["junie"]["routing"]["queue"]
    async with client(stack["routing"].base_url) as routing:
        first = (await routing.get(f"/v1/queues/{queue}/events", params={"limit": 1})).json()
        assert len(first["items"]) == 1
        assert (await routing.get(f"/v1/queues/{queue}/events", params={"after": first["poll_cursor"]})).json()[
            "items"
        ] == []
        if first["next_cursor"]:
            older = (await routing.get(f"/v1/queues/{queue}/events", params={"cursor": first["next_cursor"]})).json()
            assert older["items"] and older["items"][0]["published_at"] <= first["items"][0]["published_at"]
            assert older["poll_cursor"] is None
        started = time.monotonic()
        empty = (await routing.get("/v1/queues/no-such-queue-here/events")).json()
        assert empty["items"] == [] and empty["poll_cursor"]  # a follower of an empty feed starts at "now"
        assert time.monotonic() - started < 10
        bad = await routing.get(f"/v1/queues/{queue}/events", params={"after": "not-a-cursor"})
        assert bad.status_code == 422 and bad.json()["error"] == "invalid_cursor"
