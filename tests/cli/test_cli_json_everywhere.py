"""`--json` works on every `mailintake` command, before the command and after it (issue 16).

The commands are read from the CLI's own parser, so a new command fails the first test until it
is walked here too. The walk runs each one twice against the real stack, as
`mailintake --json <command> ...` and `mailintake <command> ... --json`, on things of its own
(alerts, items, failed documents, dead letters and held items made for it), and each answer
must be JSON (for `tail`, one JSON object a line).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import httpx
from mailintake_cli.main import cli

from tests.factories import quarantine_files as qfiles
from tests.factories.documents import email_bytes
from tests.support import faults
from tests.support.api import client, wait_for_status
from tests.support.cli import mailintake
from tests.support.stack import Infra, Service

EMAIL = {"Content-Type": "message/rfc822"}
RUN = uuid.uuid4().hex[:8]
Args = Callable[[int], tuple[str, ...]]  # the form (0: --json before, 1: after) -> the arguments


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command a person can run: leaves, and groups that do something on their own."""
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                yield path
            yield from leaf_commands(command, path)
        else:
            yield path


def cases(made: dict[str, Any], tmp_path: Path) -> dict[tuple[str, ...], Args]:
    """The arguments of each command in each form, in the order they are run."""
    return {
        ("submit",): lambda _: ("email", str(made["eml"])),
        ("status",): lambda _: (made["at_risk"][0]["document_id"],),
        ("queues",): lambda _: (),
        ("alerts",): lambda _: ("--status", "open"),
        ("alerts", "ack"): lambda form: (made["alerts"][form], "--note", "seen"),
        ("alerts", "close"): lambda form: (made["alerts"][form], "--outcome", "no_action"),
        ("tail",): lambda _: (made["at_risk"][0]["routing"]["queue"], "-n", "3"),
        ("keys", "create"): lambda form: (f"json walk {RUN} {form}", "--scope", "ops:read"),
        ("keys", "list"): lambda _: (),
        ("keys", "revoke"): lambda form: (f"json walk {RUN} {form}",),
        ("items", "complete"): lambda form: (
            made["at_risk"][form]["routing"]["queue"],
            made["at_risk"][form]["document_id"],
            "--outcome",
            "attached",
        ),
        ("failed", "list"): lambda _: ("--limit", "10000"),
        ("failed", "retry"): lambda form: (made["failed"][form],),
        ("dlq", "list"): lambda _: ("--limit", "10000"),
        ("dlq", "replay"): lambda form: (made["dead_letters"][form],),
        ("quarantine", "list"): lambda _: ("--reason", "size"),
        ("quarantine", "release"): lambda form: (made["held"][form], "--reason", "split in two"),
        ("demo",): lambda form: ("--dir", str(tmp_path / f"demo-{form}")),
    }


def test_every_command_of_the_parser_is_walked(tmp_path: Path) -> None:
    commands = list(leaf_commands(cli))
    assert len(commands) == len(set(commands)) >= 18
    assert set(commands) == set(cases({}, tmp_path))


async def post(http: httpx.AsyncClient, raw: bytes) -> str:
    response = await http.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL)
    assert response.status_code == 202, response.text
    return str(response.json()["document_id"])


async def make_things(stack: dict[str, Service], infra: Infra, tmp_path: Path) -> dict[str, Any]:
    """Two of everything a command changes: alerts and their items, failed documents with their
    dead letters (the cause fixed before they are retried), held items."""
    intake_url = stack["intake"].base_url
    async with client(intake_url) as http:
        at_risk = [
            await post(http, email_bytes(sender=f"walk{n}@example.net", body=f"I can't keep going like this. {RUN}{n}"))
            for n in range(2)
        ]
        plain = [await post(http, email_bytes(subject="Payments", body=f"When is it paid? {RUN}{n}")) for n in range(2)]
        big = qfiles.email_with([("scan.pdf", b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024), "application/pdf")])
        held = [await post(http, big + f"\n{RUN}{n}\n".encode()) for n in range(2)]
        routed = [await wait_for_status(http, d, {"routed"}, 180) for d in [*at_risk, *plain]]
        for document_id in held:
            await wait_for_status(http, document_id, {"screened", "classified", "routed"}, 180)
    missing = await asyncio.gather(*(faults.fail_at_the_classifier(intake_url, infra, d) for d in plain))
    for content in missing:
        await faults.put_blob(infra, content)  # retried or replayed, they are routed
    async with client(stack["routing"].base_url) as routing:
        alerts = {a["document_id"]: a["alert_id"] for a in (await routing.get("/v1/alerts?limit=500")).json()["items"]}
    dead_letters: dict[str, str] = {}
    async with client(stack["classifier"].base_url) as classifier:
        for _ in range(120):
            page = (await classifier.get("/v1/dlq", params={"limit": 500})).json()["items"]
            dead_letters |= {r["document_id"]: r["id"] for r in page if r["document_id"] in plain}
            if len(dead_letters) == 2:
                break
            await asyncio.sleep(0.5)
    (tmp_path / "walk.eml").write_bytes(email_bytes(subject="Walk", body=f"A letter for the walk {RUN}"))
    return {
        "eml": tmp_path / "walk.eml",
        "at_risk": routed[:2],
        "alerts": [alerts[d] for d in at_risk],
        "failed": plain,
        "dead_letters": [dead_letters[d] for d in plain],
        "held": held,
    }


def answers_json(command: tuple[str, ...], stdout: str) -> bool:
    try:
        if command == ("tail",):
            lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
            return bool(lines) and all(isinstance(line, dict) for line in lines)
        json.loads(stdout)
        return True
    except ValueError:
        return False


async def test_json_before_and_after_every_command(stack: dict[str, Service], infra: Infra, tmp_path: Path) -> None:
    made = await make_things(stack, infra, tmp_path)
    for command, args in cases(made, tmp_path).items():
        for form in (0, 1):
            line = ("--json", *command, *args(form)) if form == 0 else (*command, *args(form), "--json")
            done = await asyncio.to_thread(mailintake, stack, *line)
            assert done.returncode == 0, (line, done.stderr[-2000:])
            assert answers_json(command, done.stdout), (line, done.stdout[-2000:])
