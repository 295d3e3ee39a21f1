"""A consumer stage's per-event path in-process, a git ref's libs/common against this checkout's (issue 18).

`python -m bench.stage_ab [ref] [rounds] [events]` starts one PostgreSQL, then runs the stage in
separate processes, the ref's code (an export of its libs/common on `PYTHONPATH`) and this
checkout's in turn, and prints for each round the client's CPU per event (`time.process_time`),
PostgreSQL's CPU per event (every PostgreSQL process, from /proc) and its statements per event
(pg_stat_statements). `STAGE_AB_PARTITIONS` (1) applies that many partitions' batches side by
side, as a service does at saturation; `STAGE_AB_VARIANTS` picks variants by name; each
round also prints the transactions that wrote, per event. The stage is quarantine's shape: the
runner checks a partition's batch in (with the details it reads), the handler reads the event's
5 KB blob and writes a new blob, the status, a timeline entry, details and an event in one unit
of work.
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
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from bench.support import ROOT, exported

BATCH = 8  # records per partition batch
PARTITIONS = int(os.environ.get("STAGE_AB_PARTITIONS", "1"))  # batches applied side by side, one a partition
LETTER = ("Dear Sir or Madam, I am writing about my child support assessment and my new job. " * 60)[:5000]


def _postgres_cpu_s(data_dir: Path) -> float:
    """CPU seconds of the PostgreSQL in `data_dir`: its postmaster with the children it reaped,
    and the children still running (backends, autovacuum, writers)."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == postmaster or int(fields[1]) == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / tick


async def _worker(url: str, events: int) -> dict[str, float]:
    from sqlalchemy import text

    from mailintake_common import details
    from mailintake_common import handler_context as hc
    from mailintake_common.blobs import blob_store
    from mailintake_common.consumer import ConsumerRunner, HandlerContext, Subscription
    from mailintake_common.db import make_engine, reading, unit_of_work
    from mailintake_common.events import (
        ClearedPart,
        DocumentReceivedV1,
        DocumentScreenedV1,
        Envelope,
        ReceivedPart,
        new_event,
    )
    from mailintake_common.outbox import encode
    from mailintake_common.settings import CommonSettings

    try:
        from aiokafka import ConsumerRecord, TopicPartition
    except ImportError:  # pragma: no cover
        raise

    settings = CommonSettings(database_url=url)
    engine = make_engine(settings)
    topic = "bench.stage.in"

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        known = ctx.details_of(details.ReceivedDetails)
        if known is None:
            async with reading(ctx.engine) as conn:
                await details.whole_received(conn, event.document_id, event.payload)
        async with reading(ctx.engine) as conn:
            content = await blob_store(conn).get(event.payload.parts[0].blob)
        async with ctx.unit_of_work(claim_with_writes=True) as uow:
            ref = await uow.blobs.put(content.upper(), "text/plain")
            await uow.documents.advance_later(event.document_id, "screened", result={"verdict": "clear"})
            await uow.documents.add_timeline(event.document_id, "quarantine", "clear", ["no findings"])
            kept = details.ScreeningDetails(parts=[details.PartNames(filename=None, source="body")])
            await details.keep(uow.conn, event.document_id, kept, uow.writes)
            part = ClearedPart(part_id="p0", kind="text_body", media_type="text/plain", blob=ref, source="body")
            payload = DocumentScreenedV1(
                channel="email", received_at=event.payload.received_at, verdict="clear", cleared_parts=[part]
            )
            await uow.outbox.add("bench.stage.out", new_event(event.document_id, payload), trace_id=ctx.trace_id)

    handler: Any = hc.reads_details(details.ReceivedDetails)(handle)
    if hasattr(hc, "reads_blobs"):
        handler = hc.reads_blobs(handler)
    runner = ConsumerRunner(engine, settings, f"bench-{uuid.uuid4().hex[:8]}", [Subscription(topic, handler, "bench")])

    async def documents(count: int) -> list[Envelope[DocumentReceivedV1]]:
        made = []
        for _ in range(count):
            document_id = uuid.uuid4().hex
            async with unit_of_work(engine) as uow:
                await uow.documents.create(document_id, channel="email", received_at=datetime.now(UTC), mailbox="edc")
                ref = await uow.blobs.put(f"{uuid.uuid4().hex} {LETTER}".encode(), "message/rfc822")
                await details.keep(uow.conn, document_id, details.ReceivedDetails(filenames=[None]), uow.writes)
            part = ReceivedPart(part_id="p0", role="raw_email", blob=ref)
            made.append(
                new_event(document_id, DocumentReceivedV1(channel="email", received_at=datetime.now(UTC), parts=[part]))
            )
        return made

    def records(batch: list[Envelope[DocumentReceivedV1]], first: int, partition: int) -> list[ConsumerRecord]:
        out = []
        for i, event in enumerate(batch):
            value, key = encode(event), event.document_id.encode()
            out.append(ConsumerRecord(topic, partition, first + i, 0, 0, key, value, None, len(key), len(value), []))
        return out

    async def apply(events: list[Envelope[DocumentReceivedV1]], offset: int) -> None:
        """The events in batches of BATCH, PARTITIONS batches side by side (one a partition)."""
        step = BATCH * PARTITIONS
        for start in range(0, len(events), step):
            batches = [events[at : at + BATCH] for at in range(start, min(start + step, len(events)), BATCH)]
            applying = [
                runner.apply_batch(TopicPartition(topic, p), records(batch, offset + start, p), {})
                for p, batch in enumerate(batches)
            ]
            await asyncio.gather(*applying)

    warm = await documents(BATCH * 2 * PARTITIONS)
    await apply(warm, 0)
    timed = await documents(events)
    async with engine.connect() as conn:
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        await conn.execute(text("SELECT pg_stat_statements_reset()"))
        await conn.commit()
    next_xid = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
    async with engine.connect() as conn:
        xid = (await conn.execute(text(next_xid))).scalar_one()
    started = time.process_time()
    await apply(timed, 100_000)
    client = time.process_time() - started
    async with engine.connect() as conn:
        xid = (await conn.execute(text(next_xid))).scalar_one() - xid
    async with engine.connect() as conn:
        calls = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'"
                    " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        ).scalar_one()
        if os.environ.get("STAGE_AB_DUMP"):  # which statements, most called first
            top = "SELECT calls, left(query, 150) FROM pg_stat_statements ORDER BY calls DESC LIMIT 15"
            for row in await conn.execute(text(top)):
                print(row[0], " ".join(row[1].split()), file=sys.stderr)
    await engine.dispose()
    return {"client_ms": client * 1000 / events, "statements": float(calls) / events, "transactions": xid / events}


def _round(url: str, data_dir: Path, pythonpath: str | None, events: int, **extra: str) -> dict[str, float]:
    env = dict(os.environ) | extra
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    before = _postgres_cpu_s(data_dir)
    out = subprocess.run(
        [sys.executable, "-m", "bench.stage_ab", "--worker", url, str(events)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    time.sleep(0.5)  # the backends exit and are reaped
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["postgres_ms"] = (_postgres_cpu_s(data_dir) - before) * 1000 / events
    return result


def main(ref: str = "main", rounds: int = 4, events: int = 400) -> None:
    from mailintake_common.devstack import Postgres, free_port
    from mailintake_common.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        old_path = exported(ref, Path(tmp) / "old")
        port = free_port()
        options = ("-c", "shared_preload_libraries=pg_stat_statements")
        pg = Postgres(Path(tmp) / "pg", port, fast=True, options=options)
        pg.start()
        try:
            upgrade(pg.url)
            # "new, no prefetch": this checkout with the blobs not read with the check-in
            variants: dict[str, tuple[str | None, dict[str, str]]] = {
                "old": (old_path, {}),
                "new": (None, {}),
                "new, no prefetch": (None, {"MAILINTAKE_CONSUMER_PREFETCH_BLOB_BYTES": "0"}),
                "new, each unit alone": (None, {"MAILINTAKE_DB_GROUP_MAX_UNITS": "1"}),  # no group commit
            }
            if only := os.environ.get("STAGE_AB_VARIANTS"):  # e.g. "old;new"
                variants = {name: variants[name] for name in only.split(";")}
            results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for i in range(rounds):
                order = list(variants) if i % 2 == 0 else list(reversed(variants))
                for name in order:
                    path, extra = variants[name]
                    result = _round(pg.url, pg.data_dir, path, events, **extra)
                    results[name].append(result)
                    print(f"round {i + 1} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()), flush=True)
        finally:
            pg.stop()
    for name, rows in results.items():
        summary = {key: median(r[key] for r in rows) for key in rows[0]}
        print(
            f"median {name} ({ref if name == 'old' else 'this checkout'}): "
            + ", ".join(f"{k} {v:.3f}" for k, v in summary.items())
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(asyncio.run(_worker(sys.argv[2], int(sys.argv[3])))))
    else:
        args = sys.argv[1:]
        main(args[0] if args else "main", *(int(a) for a in args[1:3]))
