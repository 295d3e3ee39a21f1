"""A partition batch's check-in on tables of a real size: a ref's code against this one (issue 18, session 11).

`python -m bench.check_in_ab [ref] [rounds] [batches] [rows]` starts one PostgreSQL, fills it
with `rows` documents (each with its received details, a kept 5 KB blob and the three consumer
groups' markers) and analyses it, then runs `attempts.check_in_batch` as quarantine calls it
(the received details and the event's blob with it) in separate processes, the ref's code (an
export of its libs/common on `PYTHONPATH`) and this checkout's in turn, `batches` calls a round
of batches of one, two and four events in turn. Printed per round: the client's CPU per call,
PostgreSQL's CPU per call (every PostgreSQL process, from /proc: the worker's connections'
start is in it, alike for both), and from pg_stat_statements the check-in's calls, plans and
planning and execution time per call.
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
from pathlib import Path
from statistics import median

from bench.stage_ab import _postgres_cpu_s
from bench.support import ROOT, exported

SIZES = (1, 2, 4)  # events a batch, in turn: small batches are the common case at a moderate rate
FILL = """
INSERT INTO documents (document_id, channel, status, received_at)
    SELECT 'doc' || g, 'email', 'routed', now() FROM generate_series(1, {rows}) g;
INSERT INTO received_details (document_id, details)
    SELECT 'doc' || g, '{{"filenames": [null]}}' FROM generate_series(1, {rows}) g;
INSERT INTO blobs (sha256, size, media_type, content)
    SELECT 'sha' || g, 5000, 'message/rfc822', convert_to(repeat(md5(g::text), 156), 'UTF8')
    FROM generate_series(1, {rows}) g;
INSERT INTO processed_events (consumer, event_id)
    SELECT c, 'old' || g FROM generate_series(1, {rows}) g, (VALUES ('quarantine'), ('classifier'), ('routing')) v(c);
ANALYZE
"""
STATS = (
    "SELECT coalesce(sum(calls), 0), coalesce(sum(plans), 0), coalesce(sum(total_plan_time), 0),"
    " coalesce(sum(total_exec_time), 0) FROM pg_stat_statements WHERE query LIKE '%WITH batch AS%'"
)


async def _worker(url: str, batches: int, rows: int) -> dict[str, float]:
    from sqlalchemy import text

    from mailintake_common import attempts
    from mailintake_common.db import make_engine
    from mailintake_common.settings import CommonSettings
    from mailintake_common.tables import received_details

    engine = make_engine(CommonSettings(database_url=url))
    run = uuid.uuid4().hex[:8]

    async def call(i: int) -> None:
        size = SIZES[i % len(SIZES)]
        numbers = [(i * 7919 + k * 104729) % rows + 1 for k in range(size)]
        events = [(f"{run}-{i}-{k}", f"doc{n}") for k, n in enumerate(numbers)]
        shas = [f"sha{n}" for n in numbers]
        await attempts.check_in_batch(engine, "quarantine", events, received_details, shas, 262144)

    for i in range(10):  # the connection, and its first plans
        await call(-1 - i)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_statements_reset()"))
        await conn.commit()
    started = time.process_time()
    for i in range(batches):
        await call(i)
    client = time.process_time() - started
    async with engine.connect() as conn:
        calls, plans, plan_ms, exec_ms = (await conn.execute(text(STATS))).one()
    await engine.dispose()
    return {
        "client_ms": client * 1000 / batches,
        "calls": float(calls),
        "plans": float(plans),
        "plan_ms": float(plan_ms) / max(int(calls), 1),
        "exec_ms": float(exec_ms) / max(int(calls), 1),
    }


async def _fill(url: str, rows: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            for sql in filter(str.strip, FILL.format(rows=rows).split(";")):
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _round(url: str, data_dir: Path, pythonpath: str | None, batches: int, rows: int) -> dict[str, float]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    before = _postgres_cpu_s(data_dir)
    out = subprocess.run(
        [sys.executable, "-m", "bench.check_in_ab", "--worker", url, str(batches), str(rows)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    time.sleep(0.5)  # the backends exit and are reaped
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["postgres_ms"] = (_postgres_cpu_s(data_dir) - before) * 1000 / batches
    return result


def main(ref: str = "main", rounds: int = 4, batches: int = 600, rows: int = 50000) -> None:
    from mailintake_common.devstack import Postgres, free_port
    from mailintake_common.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        old_path = exported(ref, Path(tmp) / "old")
        options = ("-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track_planning=on")
        pg = Postgres(Path(tmp) / "pg", free_port(), fast=True, options=options)
        pg.start()
        try:
            upgrade(pg.url)
            asyncio.run(_fill(pg.url, rows))
            variants = {ref: old_path, "this checkout": None}
            results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for i in range(rounds):
                for name in variants if i % 2 == 0 else reversed(variants):
                    results[name].append(_round(pg.url, pg.data_dir, variants[name], batches, rows))
                    _say(f"round {i + 1} {name}", results[name][-1])
        finally:
            pg.stop()
    for name, found in results.items():
        _say(f"median {name}", {key: median(r[key] for r in found) for key in found[0]})


def _say(label: str, figures: dict[str, float]) -> None:
    print(f"{label}: " + ", ".join(f"{key} {value:.3f}" for key, value in figures.items()), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(asyncio.run(_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))))
    else:
        args = sys.argv[1:]
        main(args[0] if args else "main", *(int(a) for a in args[1:4]))
