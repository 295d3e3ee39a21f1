"""Routing decisions on mail written by outsiders: each item through the whole pipeline, its
decision compared with what the writer expected from SPEC.md and the seeds alone.

    python -m bench decisions         # every set below, on a private stack (about 2 minutes a set)
    BENCH_DECISIONS_SETS=2,4 python -m bench decisions   # only those sets

The sets (tests/routing/data/decisions_blind_*.jsonl, each with a README beside it) were written
by helpers who read only SPEC.md and the seeds: no code, tests or docs. Set 1 was measured on
session 14's starting code and its failures were described (not shown) to the helpers who then
changed the rules; sets 2 and 3 were written after that (set 3 after every change of session 14
had landed) and nobody who changed a rule has seen them. Session 15 used set 2 as a development
set (its failures were read); set 4 was written at the start of session 15, before the audience
model, and nobody who changed a rule has seen it; set 5 was written after every change of session
15 had landed, and nobody has seen it. Items the writer marked
`expect_uncertain` (SPEC and seeds leave the answer open) are counted apart.
A check is one expectation of one item: the queue (for a routing-matrix category, any queue that
is not an exemption), priority, the customers and organisation attached, pending-delete or not,
overseas or not, a TFN masked in everything the document's status shows, a CRN or ABN found.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import httpx

from bench.support import private_stack
from mailintake_common.events import EXEMPTION_QUEUES
from tests.support.stack import ADMIN_KEY

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "blind 1 (described to the rule writers)": ROOT / "tests/routing/data/decisions_blind_1.jsonl",
    "blind 2 (never seen)": ROOT / "tests/routing/data/decisions_blind_2.jsonl",
    "blind 3 (never seen)": ROOT / "tests/routing/data/decisions_blind_3.jsonl",
    "blind 4 (written in session 15 before its rule changes, never seen)": ROOT
    / "tests/routing/data/decisions_blind_4.jsonl",
    "blind 5 (written after session 15's changes, never seen)": ROOT / "tests/routing/data/decisions_blind_5.jsonl",
}
EXEMPTIONS = frozenset(EXEMPTION_QUEUES)
HEADERS = {"X-API-Key": ADMIN_KEY}


def raw_email(e: dict, tag: str) -> bytes:
    """The item's email as RFC 822 bytes; `tag` keeps Message-IDs unique across runs."""
    attachments = e.get("attachments") or []
    msg: Message
    content_type = e.get("content_type") or ""
    if content_type.startswith("multipart/report"):
        # a delivery report (RFC 3464) or a read receipt (RFC 8098), as the content type says
        receipt = "disposition-notification" in content_type
        kind = "disposition-notification" if receipt else "delivery-status"
        msg = MIMEMultipart("report", report_type=kind)
        msg.attach(MIMEText(e.get("body", ""), "plain", "utf-8"))
        report = MIMEBase("message", kind)
        reporter, recipient = Message(), Message()
        if receipt:
            reporter["Reporting-UA"] = "mail.example"
            reporter["Final-Recipient"] = "rfc822; someone@example.org"
            reporter["Disposition"] = "manual-action/MDN-sent-manually; displayed"
            report.set_payload([reporter])
        else:
            reporter["Reporting-MTA"] = "dns; mail.example"
            recipient["Final-Recipient"] = "rfc822; someone@example.org"
            recipient["Action"] = "failed"
            recipient["Status"] = "5.1.1"
            report.set_payload([reporter, recipient])
        msg.attach(report)
        for a in attachments:
            part = MIMEText(a.get("text", ""), "plain", "utf-8")
            part.add_header("Content-Disposition", "attachment", filename=a["filename"])
            msg.attach(part)
    else:
        msg = EmailMessage()
        msg.set_content(e.get("body", ""))
        for a in attachments:
            msg.add_attachment(a.get("text", "").encode(), maintype="text", subtype="plain", filename=a["filename"])
    for name in ("From", "To", "Subject", "Date"):
        if e.get(name.lower()):
            del msg[name]
            msg[name] = e[name.lower()]
    message_id = e.get("message_id") or "<item@blind.example>"
    msg["Message-ID"] = message_id.replace("@", f".{tag}@", 1)
    for name, value in (e.get("headers") or {}).items():
        del msg[name]
        msg[name] = value
    return msg.as_bytes()


def compare(expect: dict, document: dict) -> dict[str, bool]:
    """Each expectation of one item against the document's status: name -> met."""
    routing = document.get("routing") or {}
    queue = routing.get("queue")
    wanted = expect.get("queue") or ""
    checks = {"queue": queue not in EXEMPTIONS if wanted.startswith("matrix:") else queue == wanted}
    checks["priority"] = bool(routing.get("priority")) == bool(expect.get("priority"))
    if "customer_ids" in expect:
        checks["customers"] = sorted(routing.get("customer_ids") or []) == sorted(expect["customer_ids"])
    if "organisation_id" in expect:
        checks["organisation"] = routing.get("organisation_id") == expect["organisation_id"]
    checks["pending_delete"] = (queue == "pending-delete") == bool(expect.get("pending_delete"))
    if expect.get("international") is not None:
        checks["international"] = (routing.get("category") == "international") == bool(expect["international"])
    shown = json.dumps(document)
    for tfn in expect.get("masked") or []:
        checks[f"masked {tfn}"] = tfn not in shown and tfn.replace(" ", "") not in shown
    identifiers = (document.get("classification") or {}).get("identifiers") or {}
    found = [i.replace(" ", "").upper() for kind in ("crn", "abn") for i in identifiers.get(kind, [])]
    for identifier in expect.get("kept") or []:
        checks[f"kept {identifier}"] = identifier.replace(" ", "").upper() in found
    return checks


def in_order(items: list[dict]) -> list[dict]:
    """Items that must follow another (a duplicate) after everything else."""
    ids = {i["id"] for i in items}
    return [i for i in items if i.get("after") not in ids] + [i for i in items if i.get("after") in ids]


def tally(results: Iterable[dict]) -> dict[str, dict[str, list[int]]]:
    """firm/uncertain -> check kind -> [met, total]."""
    by: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in results:
        side = "uncertain" if r["uncertain"] else "firm"
        kinds = {"item": [all(r["checks"].values())]}
        for name, met in r["checks"].items():
            kinds.setdefault(name.split(" ")[0], []).append(met)
        for kind, mets in kinds.items():
            by[side][kind][0] += sum(mets)
            by[side][kind][1] += len(mets)
    return by


def post(client: httpx.Client, intake: str, routing: str, item: dict, tag: str) -> str:
    directory = item.get("directory") or {}
    for kind in ("customers", "organisations"):
        if directory.get(kind):
            client.put(f"{routing}/v1/directory/{kind}", json=directory[kind], headers=HEADERS).raise_for_status()
    headers = {**HEADERS, "Idempotency-Key": f"{tag}-{item['id']}"}
    if item["channel"] == "email":
        response = client.post(
            f"{intake}/v1/emails",
            params={"mailbox": item.get("mailbox", "edc")},
            content=raw_email(item["email"], tag),
            headers={**headers, "Content-Type": "message/rfc822"},
        )
    else:
        response = client.post(f"{intake}/v1/webforms", json=item["webform"], headers=headers)
    response.raise_for_status()
    return str(response.json()["document_id"])


def routed(client: httpx.Client, intake: str, document_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"{intake}/v1/documents/{document_id}", headers=HEADERS)
        if response.status_code == 200 and response.json()["status"] in ("routed", "failed"):
            return dict(response.json())
        if time.monotonic() > deadline:
            return {"status": "timed out"}
        time.sleep(0.2)


def run_set(intake: str, routing: str, items: list[dict], tag: str) -> list[dict]:
    results = []
    with httpx.Client(timeout=30) as client:
        for item in in_order(items):
            document = routed(client, intake, post(client, intake, routing, item, tag))
            checks = compare(item["expect"], document)
            results.append({"id": item["id"], "uncertain": bool(item.get("expect_uncertain")), "checks": checks})
            if not all(checks.values()):
                r = document.get("routing") or {}
                missed = [k for k, v in checks.items() if not v]
                print(f"  {item['id']}: {r.get('queue')} priority={r.get('priority')} missed {', '.join(missed)}")
    return results


def main() -> None:
    with private_stack(("intake", "quarantine", "classifier", "routing")) as (_, services):
        intake, routing = services["intake"].base_url, services["routing"].base_url
        wanted = {w.strip() for w in os.environ.get("BENCH_DECISIONS_SETS", "").split(",") if w.strip()}
        for n, (name, path) in enumerate(SETS.items()):
            if not path.exists() or (wanted and str(n + 1) not in wanted):
                continue
            items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            print(f"\n{name}: {len(items)} items")
            by = tally(run_set(intake, routing, items, f"set{n}"))
            for side in ("firm", "uncertain"):
                line = ", ".join(f"{kind} {met}/{total}" for kind, (met, total) in by[side].items())
                print(f"  {side}: {line}")


if __name__ == "__main__":
    main()
