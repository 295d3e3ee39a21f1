"""The classifier's handler in-process, a git ref's code against this checkout's (issue 18, session 11).

`python -m bench.classifier_stage [ref] [rounds] [events]` starts one PostgreSQL, then runs the
classifier's real handler (`make_handler`, its OCR pool's worker processes, `classify()`) through
the consumer runner's `apply_batch` in separate processes, the ref's code (an export of its
libs/common and services/classifier on `PYTHONPATH`) and this checkout's in turn, and prints for
each round the CPU per event of the process with its workers (`psutil`: no broker, no relay;
`cpu_ms`), of the process alone (`main_ms`) and of its event loop's thread (`loop_ms`: the rest
of `main_ms` is `classify()` in the executor's threads), and PostgreSQL's statements per event.
The events are the pipeline bench's: 5 KB letters with a unique first line, as e-mails (subject
and cleared text body) and web forms (form fields) in turn, each with its screening details,
batches of 8 as a partition's. `CLASSIFIER_STAGE_PROFILE=path` writes a cProfile of the timed
events in this checkout's rounds (the event loop's thread CPU: the workers' and `classify()`'s
share is in the CPU figures, not the profile). Warm before timing: the workers started and every
shape used.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCH = 8  # records per partition batch
PACKAGES = ("libs/common/src", "services/classifier/src")


def _export(ref: str, into: Path) -> str:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, *PACKAGES], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return os.pathsep.join(str(into / p) for p in PACKAGES)


def _cpu_s() -> float:
    """This process's CPU seconds with its live children's (the OCR pool's workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def _worker(url: str, events: int) -> dict[str, float]:
    from aiokafka import ConsumerRecord, TopicPartition
    from sqlalchemy import text

    from bench.letters import LETTERS
    from mailintake_classifier.adapters.ocr import OcrPool
    from mailintake_classifier.domain.classify import prepare
    from mailintake_classifier.handlers import make_handler
    from mailintake_classifier.settings import ClassifierSettings
    from mailintake_common import details
    from mailintake_common.consumer import ConsumerRunner, Subscription
    from mailintake_common.db import unit_of_work
    from mailintake_common.events import ClearedPart, DocumentScreenedV1, EmailFacts, Envelope, new_event
    from mailintake_common.outbox import encode

    settings = ClassifierSettings(database_url=url, ocr_workers=2)
    pool = OcrPool(
        settings.workers(),
        memory_bytes=settings.ocr_worker_memory_bytes,
        page_timeout_s=settings.ocr_page_timeout_s,
        tesseract_timeout_s=settings.tesseract_timeout_s,
        tesseract_library=settings.tesseract_library,
        language=settings.ocr_language,
    )
    prepare()
    await pool.start(timeout_s=120)
    from mailintake_common.db import make_engine

    engine = make_engine(settings)
    topic = "bench.classifier.in"
    tp = TopicPartition(topic, 0)
    runner = ConsumerRunner(
        engine, settings, f"bench-{uuid.uuid4().hex[:8]}", [Subscription(topic, make_handler(settings, pool), "c")]
    )

    def body(i: int) -> str:
        letter = LETTERS[(i // 2) % len(LETTERS)]
        return uuid.uuid4().hex + "\n\n" + (letter * (5000 // len(letter) + 1))[:5000]

    async def documents(count: int, first: int) -> list[Envelope[Any]]:
        made = []
        for i in range(first, first + count):
            document_id = uuid.uuid4().hex
            web = i % 2 == 1
            async with unit_of_work(engine) as uow:
                await uow.documents.create(
                    document_id,
                    channel="webform" if web else "email",
                    received_at=datetime.now(UTC),
                    mailbox=None if web else "edc",
                    form_type="contact_us" if web else None,
                )
                if web:
                    fields = {"form_type": "contact_us", "fields": {"name": "A Parent", "message": body(i)}}
                    content, media = json.dumps(fields).encode(), "application/json"
                    kind, source = "form_fields", "form fields"
                else:
                    content, media = body(i).encode(), "text/plain"
                    kind, source = "text_body", "body"
                ref = await uow.blobs.put(content, media)
                part = ClearedPart(part_id="p0", kind=kind, media_type=media, blob=ref, source=source)  # type: ignore[arg-type]
                email = None if web else EmailFacts(from_address="parent@example.org", subject="My assessment")
                whole = DocumentScreenedV1(
                    channel="webform" if web else "email",
                    received_at=datetime.now(UTC),
                    mailbox=None if web else "edc",
                    form_type="contact_us" if web else None,
                    verdict="clear",
                    cleared_parts=[part],
                    email=email,
                )
                event, kept = details.split_screened(whole)
                await details.keep(uow.conn, document_id, kept, uow.writes)
            await _advance(engine, document_id)
            made.append(new_event(document_id, event))
        return made

    def records(batch: list[Envelope[Any]], first: int) -> list[ConsumerRecord]:
        out = []
        for i, event in enumerate(batch):
            value, key = encode(event), event.document_id.encode()
            out.append(ConsumerRecord(topic, 0, first + i, 0, 0, key, value, None, len(key), len(value), []))
        return out

    warm = await documents(BATCH * 4, 0)
    for start in range(0, len(warm), BATCH):
        await runner.apply_batch(tp, records(warm[start : start + BATCH], start), {})
    timed = await documents(events, len(warm))
    async with engine.connect() as conn:
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        await conn.execute(text("SELECT pg_stat_statements_reset()"))
        await conn.commit()
    profiler = None
    if os.environ.get("CLASSIFIER_STAGE_PROFILE"):
        import cProfile

        profiler = cProfile.Profile(time.thread_time)  # the event loop thread's CPU, not its waits
        profiler.enable()
    started, started_main, started_loop = _cpu_s(), time.process_time(), time.thread_time()
    for start in range(0, len(timed), BATCH):
        await runner.apply_batch(tp, records(timed[start : start + BATCH], 1000 + start), {})
    cpu, cpu_main, cpu_loop = _cpu_s() - started, time.process_time() - started_main, time.thread_time() - started_loop
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.environ["CLASSIFIER_STAGE_PROFILE"])
    async with engine.connect() as conn:
        calls = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'"
                    " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        ).scalar_one()
        done = (
            await conn.execute(
                text("SELECT count(*) FROM documents WHERE status = 'classified' AND document_id = ANY(:ids)"),
                {"ids": [e.document_id for e in warm + timed]},
            )
        ).scalar_one()
    await engine.dispose()
    pool.close()
    assert done == len(warm) + len(timed), f"{done} classified of {len(warm) + len(timed)}"
    per_event = {"cpu_ms": cpu, "main_ms": cpu_main, "loop_ms": cpu_loop}
    return {name: seconds * 1000 / events for name, seconds in per_event.items()} | {
        "statements": float(calls) / events
    }


async def _advance(engine: Any, document_id: str) -> None:
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE documents SET status = 'screened' WHERE document_id = :id"), {"id": document_id}
        )


def _round(url: str, pythonpath: str | None, events: int, profile: bool) -> dict[str, float]:
    env = dict(os.environ)
    env.pop("CLASSIFIER_STAGE_PROFILE", None) if not profile else None
    env["PYTHONPATH"] = os.pathsep.join([p for p in (pythonpath, str(ROOT), env.get("PYTHONPATH", "")) if p])
    out = subprocess.run(
        [sys.executable, "-m", "bench.classifier_stage", "--worker", url, str(events)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(ref: str = "main", rounds: int = 4, events: int = 200) -> None:
    from mailintake_common.devstack import Postgres, free_port
    from mailintake_common.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        old_path = _export(ref, Path(tmp) / "old")
        port = free_port()
        options = ("-c", "shared_preload_libraries=pg_stat_statements")
        pg = Postgres(Path(tmp) / "pg", port, fast=True, options=options)
        pg.start()
        try:
            upgrade(pg.url)
            variants: dict[str, str | None] = {"old": old_path, "new": None}
            results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for i in range(rounds):
                order = list(variants) if i % 2 == 0 else list(reversed(variants))
                for name in order:
                    result = _round(pg.url, variants[name], events, profile=name == "new")
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
