"""Routing's handler through the real consumer runner, a git ref's code against this checkout's
(issue 18; sessions 8 to 11 ran it from a scratch copy).

`python -m bench.routing_ab [ref] [rounds] [events]` starts one PostgreSQL (pg_stat_statements),
migrated by this checkout, with `AB_CUSTOMERS` customers (3000) and `AB_ORGS` employers (500),
each with its own domain and payroll sender. Each round routes `events` classified e-mails, half
from a customer's address and half from an unknown domain naming a person with a date of birth,
through `ConsumerRunner.apply_batch` in batches of 4, in a separate process: the ref's code (an
export of its libs/common and services/routing on `PYTHONPATH`) and this checkout's in turn. It
prints per routed document routing's CPU (`time.process_time` of the timed batches), PostgreSQL's
CPU (its processes, from /proc), PostgreSQL's execution and planning time (pg_stat_statements)
and the statements, then the medians.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from statistics import median
from typing import Any

from bench.routing_lookup import counting_postgres
from bench.stage_ab import _postgres_cpu_s
from bench.support import ROOT, exported

BATCH = 4
CUSTOMERS = int(os.environ.get("AB_CUSTOMERS", "3000"))
ORGANISATIONS = int(os.environ.get("AB_ORGS", "500"))
SEED = (
    "INSERT INTO customers (customer_id, crn, given_name, family_name, date_of_birth, emails)"
    " SELECT format('C%s', lpad(i::text, 6, '0')), lpad(i::text, 9, '0') || 'K', 'Given' || i, 'Family' || i,"
    " make_date(1950 + i % 50, 1 + i % 12, 1 + i % 28), ARRAY['person' || i || '@example.net']"
    f" FROM generate_series(0, {CUSTOMERS - 1}) AS i",
    "INSERT INTO organisations (organisation_id, name, email_domains, sender_addresses, kind)"
    " SELECT format('O%s', lpad(i::text, 6, '0')), 'Employer ' || i || ' Pty Ltd',"
    " ARRAY['employer' || i || '.example.com'], ARRAY['payroll@employer' || i || '.example.com'], 'employer'"
    f" FROM generate_series(0, {ORGANISATIONS - 1}) AS i",
    "ANALYZE",
)
# a letter about a new job, read by the classifier (its time and content key are each document's own)
LETTER: dict[str, Any] = {"channel": "email", "mailbox": "edc", "verdict": "clear", "confidence": 0.9}
LETTER |= {"document_type": "change_of_circumstances"}
TOTALS = (
    "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time + total_plan_time), 0) FROM pg_stat_statements"
    " WHERE query NOT LIKE '%pg_stat_statements%'"
    " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _classified(i: int) -> Any:
    from mailintake_common.events import DocumentClassifiedV1, EmailFacts, Identifiers, PersonMention

    people = []
    if i % 2:
        sender = f"person{(i * 7) % CUSTOMERS}@example.net"
    else:
        sender = f"someone{uuid.uuid4().hex[:6]}@unknown{i}.example.org"
        born = date(1950 + i % 50, 1 + i % 12, 1 + i % 28).isoformat()
        people = [PersonMention(given_name="Robin", family_name="Smith", date_of_birth=born)]
    facts = EmailFacts(from_address=sender, subject="I have started a new job")
    return DocumentClassifiedV1(
        **LETTER,
        received_at=datetime.now(UTC),
        content_sha256=uuid.uuid4().hex * 2,
        email=facts,
        identifiers=Identifiers(emails=[sender]),
        people=people,
    )


async def _worker(url: str, events: int, data_dir: Path) -> dict[str, float]:
    from aiokafka import ConsumerRecord, TopicPartition
    from sqlalchemy import text

    from mailintake_common import details
    from mailintake_common.consumer import ConsumerRunner, Subscription
    from mailintake_common.db import make_engine, unit_of_work
    from mailintake_common.events import TOPIC_CLASSIFIED, new_event
    from mailintake_common.outbox import encode
    from mailintake_routing.handlers import make_handler
    from mailintake_routing.settings import RoutingSettings

    settings = RoutingSettings(database_url=url)
    engine = make_engine(settings)
    subscription = Subscription(TOPIC_CLASSIFIED, make_handler(settings), "routing")
    runner = ConsumerRunner(engine, settings, "routing", [subscription])
    partition = TopicPartition(TOPIC_CLASSIFIED, 0)

    async def batches(count: int, first: int) -> list[list[Any]]:
        """`count` documents kept as the classifier keeps them, as the records of their events."""
        made = []
        for n in range(count):
            whole = _classified(first + n)
            document_id = uuid.uuid4().hex
            payload, found = details.split_classified(whole)
            async with unit_of_work(engine) as uow:
                await uow.documents.create(
                    document_id, channel=whole.channel, received_at=whole.received_at, mailbox=whole.mailbox
                )
                await details.keep(uow.conn, document_id, found, uow.writes)
            value, key = encode(new_event(document_id, payload)), document_id.encode()
            made.append(
                ConsumerRecord(TOPIC_CLASSIFIED, 0, first + n, 0, 0, key, value, None, len(key), len(value), [])
            )
        return [made[start : start + BATCH] for start in range(0, count, BATCH)]

    for batch in await batches(BATCH * 4, 0):  # warm: connections, prepared statements
        await runner.apply_batch(partition, batch, {})
    timed = await batches(events, 1000)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_statements_reset()"))
        await conn.commit()
    postgres = _postgres_cpu_s(data_dir)
    started = time.process_time()
    for batch in timed:
        await runner.apply_batch(partition, batch, {})
    client = time.process_time() - started
    postgres = _postgres_cpu_s(data_dir) - postgres
    async with engine.connect() as conn:
        calls, statement_ms = (await conn.execute(text(TOTALS))).one()
    await engine.dispose()
    return {
        "client_ms": client * 1000 / events,
        "postgres_ms": postgres * 1000 / events,
        "pg_statement_ms": float(statement_ms) / events,
        "statements": float(calls) / events,
    }


async def _seed(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        for statement in SEED:
            await conn.execute(text(statement))
    await engine.dispose()


def _round(url: str, data_dir: Path, pythonpath: str | None, events: int) -> dict[str, float]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-m", "bench.routing_ab", "--worker", url, str(events), str(data_dir)]
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        print(out.stderr[-3000:], file=sys.stderr)
    out.check_returncode()
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(ref: str = "main", rounds: int = 4, events: int = 400) -> None:
    from mailintake_common.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        variants = {"old": exported(ref, Path(tmp) / "old"), "new": None}
        pg = counting_postgres(Path(tmp) / "pg")
        try:
            upgrade(pg.url)
            asyncio.run(_seed(pg.url))
            results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for i in range(rounds):
                for name in variants if i % 2 == 0 else reversed(variants):
                    result = _round(pg.url, pg.data_dir, variants[name], events)
                    results[name].append(result)
                    shown = ", ".join(f"{k} {v:.3f}" for k, v in result.items())
                    print(f"round {i + 1} {name}: {shown} load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            pg.stop()
    for name, rows in results.items():
        summary = ", ".join(f"{k} {median(r[k] for r in rows):.3f}" for k in rows[0])
        print(f"median {name} ({ref if name == 'old' else 'this checkout'}): {summary}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(asyncio.run(_worker(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])))))
    else:
        args = sys.argv[1:]
        main(args[0] if args else "main", *(int(a) for a in args[1:3]))
