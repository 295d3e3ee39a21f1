"""Quarantine's real handler in-process, a git ref's code against this checkout's (issue 18, session 11).

`python -m bench.quarantine_stage [ref] [rounds] [events]` starts one PostgreSQL, then runs
quarantine's consumer path in separate processes, the ref's code (an export of its
`libs/common/src` and `services/quarantine/src` on `PYTHONPATH`) and this checkout's in turn,
and prints for each round the CPU per event of the process with its screening workers
(psutil: the process and its children), PostgreSQL's CPU per event and the share of events
that crossed to a worker. No broker: the runner's `apply_batch` is fed a batch of eight records
from each of four partitions side by side (as the consumer's defaults allow: 4 partitions, 4
documents of each at once), so up to 16 items are in flight, half of them e-mails for the
pool's two workers. The documents are the pipeline bench's: 5 KB e-mails and web forms in
turn, each with a unique first line. `QSTAGE_PROFILE=file` writes a cProfile of the
timed part (the service process only) to `file`.
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

from bench.stage_ab import BATCH, _postgres_cpu_s
from bench.support import ROOT, exported, tree_cpu_seconds

PARTITIONS = 4  # partitions side by side (MAILINTAKE_CONSUMER_CONCURRENCY)
PATHS = ("libs/common/src", "services/quarantine/src")


async def _worker(url: str, events: int) -> dict[str, float]:
    from aiokafka import ConsumerRecord, TopicPartition

    from bench.bench_pipeline import letter
    from mailintake_common import details
    from mailintake_common.consumer import ConsumerRunner, Subscription
    from mailintake_common.db import make_engine, unit_of_work
    from mailintake_common.events import DocumentReceivedV1, Envelope, ReceivedPart, new_event
    from mailintake_common.outbox import encode
    from mailintake_common.workers import SupervisedPool
    from mailintake_quarantine.handlers import make_handler, screening_pool
    from mailintake_quarantine.settings import QuarantineSettings
    from tests.factories.documents import email_bytes

    settings = QuarantineSettings(database_url=url, screening_workers=2)
    engine = make_engine(settings)
    pool = screening_pool(settings)
    crossed = 0
    run = SupervisedPool.run

    async def counted(self: SupervisedPool, *args: Any, **kwargs: Any) -> Any:
        nonlocal crossed
        crossed += 1
        return await run(self, *args, **kwargs)

    SupervisedPool.run = counted  # type: ignore[method-assign]
    await pool.start(timeout_s=60)
    topic = "bench.quarantine.in"
    tps = [TopicPartition(topic, n) for n in range(PARTITIONS)]
    runner = ConsumerRunner(
        engine, settings, f"bench-{uuid.uuid4().hex[:8]}", [Subscription(topic, make_handler(settings, pool), "bench")]
    )

    async def documents(count: int, first: int) -> list[Envelope[Any]]:
        made = []
        for i in range(first, first + count):
            document_id = uuid.uuid4().hex
            channel = "webform" if i % 2 else "email"
            if channel == "email":
                content, role, media = email_bytes(body=uuid.uuid4().hex + letter(i)), "raw_email", "message/rfc822"
            else:
                fields = {"form_type": "contact_us", "submitted_at": "2026-11-20T10:15:00+11:00"}
                fields["fields"] = {"message": uuid.uuid4().hex + letter(i)}  # type: ignore[assignment]
                content, role, media = json.dumps(fields).encode(), "form_fields", "application/json"
            async with unit_of_work(engine) as uow:
                received_at = datetime.now(UTC)
                await uow.documents.create(document_id, channel=channel, received_at=received_at, mailbox="edc")
                ref = await uow.blobs.put(content, media)
                whole = DocumentReceivedV1(
                    channel=channel,  # type: ignore[arg-type]
                    received_at=received_at,
                    mailbox="edc" if channel == "email" else None,
                    form_type="contact_us" if channel == "webform" else None,
                    parts=[ReceivedPart(part_id="p0", role=role, blob=ref)],  # type: ignore[arg-type]
                )
                event, kept = details.split_received(whole)
                await details.keep(uow.conn, document_id, kept, uow.writes)
            made.append(new_event(document_id, event))
        return made

    def records(batch: list[Envelope[Any]], first: int, partition: int) -> list[ConsumerRecord]:
        out = []
        for i, event in enumerate(batch):
            value, key = encode(event), event.document_id.encode()
            out.append(ConsumerRecord(topic, partition, first + i, 0, 0, key, value, None, len(key), len(value), []))
        return out

    async def apply(events: list[Envelope[Any]], first: int) -> None:
        """`events` as the consumer takes them: a batch from each partition, the partitions side by side."""
        step = BATCH * PARTITIONS
        for start in range(0, len(events), step):
            chunk = events[start : start + step]
            await asyncio.gather(
                *(
                    runner.apply_batch(tp, records(chunk[n::PARTITIONS], first + start, n), {})
                    for n, tp in enumerate(tps)
                )
            )

    warm = await documents(BATCH * PARTITIONS * 2, 0)
    await apply(warm, 0)
    timed = await documents(events, len(warm))
    profile = os.environ.get("QSTAGE_PROFILE")
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    crossed = 0
    started, own = tree_cpu_seconds(os.getpid()), time.process_time()
    await apply(timed, 10_000)
    cpu, own = tree_cpu_seconds(os.getpid()) - started, time.process_time() - own
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)  # type: ignore[arg-type]
    pool.close()
    await engine.dispose()
    return {
        "cpu_ms": cpu * 1000 / events,
        "service_ms": own * 1000 / events,
        "crossed": crossed / events,
    }


def main(ref: str = "main", rounds: int = 4, events: int = 400) -> None:
    from mailintake_common.devstack import Postgres, free_port
    from mailintake_common.migrate import upgrade

    results: dict[str, list[dict[str, float]]] = {ref: [], "this checkout": []}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {ref: exported(ref, Path(tmp) / "old") + os.pathsep, "this checkout": ""}
        pg = Postgres(Path(tmp) / "pg", free_port(), fast=True)
        pg.start()
        try:
            upgrade(pg.url)
            for i in range(rounds):  # in turn, the order swapped every round
                for name in list(paths)[:: 1 if i % 2 == 0 else -1]:
                    pythonpath = paths[name] + os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
                    postgres_s = _postgres_cpu_s(pg.data_dir)
                    command = [sys.executable, "-m", "bench.quarantine_stage", "--worker", pg.url, str(events)]
                    out = subprocess.check_output(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": pythonpath})
                    time.sleep(0.5)  # the backends exit and are reaped
                    row = json.loads(out.decode().strip().splitlines()[-1])
                    row["postgres_ms"] = (_postgres_cpu_s(pg.data_dir) - postgres_s) * 1000 / events
                    results[name].append(row)
                    print(f"round {i + 1} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
        finally:
            pg.stop()
    for name, rows in results.items():
        print(f"median {name}: " + ", ".join(f"{k} {median(r[k] for r in rows):.3f}" for k in rows[0]))
    pairs = [n["cpu_ms"] - o["cpu_ms"] for o, n in zip(results[ref], results["this checkout"], strict=True)]
    print(f"median of the paired differences (this checkout - {ref}): {median(pairs):+.3f} ms")


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["--worker", url, events]:  # one variant's run, from `main`
            print(json.dumps(asyncio.run(_worker(url, int(events)))))
        case args:
            ref = args[0] if args else "main"
            main(ref, *(int(a) for a in args[1:3]))
