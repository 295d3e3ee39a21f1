"""The outbox relay's CPU per published row, a git ref's code against this checkout's (issue 18, session 10).

`python -m bench.relay_ab REF [rounds] [rows] [rate]`: one private PostgreSQL and broker; each round
a writer commits `rows` outbox rows (one a transaction, with its NOTIFY, about 600-byte values as
the stages write them) at `rate` rows/s while a relay runs alone in its own process, REF's code
(an export on `PYTHONPATH`) and this checkout's in turn. Printed per round: the relay process's
CPU, its PostgreSQL backend's CPU and the broker's CPU per published row (the broker's since
session 12: a round's produce request costs it too), and the rounds' medians.

`python -m bench.relay_ab --statement [rounds] [calls]`: the relay's round statement alone on one
connection (2,000 unpublished rows, batches of 5, nothing stamped), through SQLAlchemy's
execution and as the `Statement` on the driver, alternated: client and backend CPU per call.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.support import tree_cpu_seconds
from tests.support.stack import start_local_infra

TOPIC = "mail.intake.received"
ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    "libs/common/src",
    "libs/cli/src",
    *(f"services/{s}/src" for s in ("intake", "quarantine", "classifier", "routing")),
)

# The relay alone in its own process: elected, it says "ready", and on a line on stdin prints its CPU since.
CHILD = """
import asyncio, sys, time
from mailintake_common.db import make_engine
from mailintake_common.outbox import Relay
from mailintake_common.settings import CommonSettings

async def main():
    settings = CommonSettings(database_url=sys.argv[1], kafka_bootstrap=sys.argv[2])
    engine = make_engine(settings)
    relay = Relay(engine, settings)
    task = asyncio.create_task(relay.run())
    while not relay.is_leader:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    started = time.process_time()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(time.process_time() - started, flush=True)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()

asyncio.run(main())
"""


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def write_rows(url: str, rows: int, rate: float, value_of: Callable[[str], dict[str, Any]] | None = None) -> None:
    """Commit `rows` outbox rows at `rate` a second, one a transaction with its NOTIFY; each
    row's value `value_of(document_id)` (default: the document id and 520 bytes), built just
    before its INSERT."""
    engine = create_async_engine(url, pool_size=4)
    insert = text(
        "WITH added AS (INSERT INTO outbox (event_id, event_type, document_id, topic, key, value, headers)"
        " VALUES (:e, 'document.received', :d, :t, :d, :v, CAST(:h AS jsonb)) RETURNING id)"
        " SELECT pg_notify('mailintake_outbox', '') FROM added"
    )
    started = time.perf_counter()
    try:
        async with engine.connect() as conn:
            for i in range(rows):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                document_id = uuid.uuid4().hex
                fields = value_of(document_id) if value_of else {"document_id": document_id, "payload": "x" * 520}
                value = json.dumps(fields).encode()
                headers = json.dumps({"event_type": "document.received", "trace_id": uuid.uuid4().hex})
                await conn.execute(
                    insert, {"e": uuid.uuid4().hex, "d": document_id, "t": TOPIC, "v": value, "h": headers}
                )
                await conn.commit()
    finally:
        await engine.dispose()


async def scalar(url: str, sql: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


def one_round(url: str, bootstrap: str, pythonpath: str, rows: int, rate: float, broker: int) -> tuple[float, ...]:
    """(relay process CPU ms per row, its backend's CPU ms per row, the broker's CPU ms per row)."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, bootstrap],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        backend = asyncio.run(scalar(url, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted LIMIT 1"))
        before, broker_before = backend_cpu(backend), tree_cpu_seconds(broker)
        asyncio.run(write_rows(url, rows, rate))
        deadline = time.monotonic() + 120
        while (
            asyncio.run(scalar(url, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        time.sleep(0.5)  # the last stamp
        backend_s, broker_s = backend_cpu(backend) - before, tree_cpu_seconds(broker) - broker_before
        child.stdin.write("\n")
        child.stdin.flush()
        process_s = float(child.stdout.readline())
    finally:
        child.wait(30)
    return process_s * 1000 / rows, backend_s * 1000 / rows, broker_s * 1000 / rows


async def statement_rounds(url: str, rounds: int, calls: int) -> None:
    from mailintake_common import statements
    from mailintake_common.db import make_engine
    from mailintake_common.outbox import _ROUND, INDEX_ONLY
    from mailintake_common.settings import CommonSettings

    engine = make_engine(CommonSettings(database_url=url))
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (event_id, event_type, document_id, topic, key, value, headers)"
                " SELECT md5(g::text), 'document.received', md5(g::text), :t, md5(g::text),"
                " convert_to(repeat('x', 600), 'UTF8'), '{\"event_type\": \"document.received\"}'"
                " FROM generate_series(1, 2000) g"
            ),
            {"t": TOPIC},
        )
    results: dict[str, list[tuple[float, float]]] = {"SQLAlchemy's execution": [], "driver Statement": []}
    params = {"stamp": [], "batch": 5}
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(INDEX_ONLY)
            backend = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

            async def through_sqlalchemy() -> object:
                return (await conn.execute(_ROUND.clause, params)).all()

            async def on_the_driver() -> object:
                return await statements.run(conn, _ROUND, params)

            ways = list(zip(results, (through_sqlalchemy, on_the_driver), strict=True))
            for _, way in ways:  # prepared and planned before anything is measured
                for _ in range(50):
                    await way()
            for r in range(rounds):
                for name, way in ways if r % 2 == 0 else reversed(ways):
                    before, started = backend_cpu(backend), time.process_time()
                    for _ in range(calls):
                        await way()
                    client_us = (time.process_time() - started) * 1e6 / calls
                    results[name].append((client_us, (backend_cpu(backend) - before) * 1e6 / calls))
                    print(f"round {r + 1} {name}: client {client_us:.0f} us, backend {results[name][-1][1]:.0f} us")
    finally:
        await engine.dispose()
    for name, got in results.items():
        client = statistics.median(c for c, _ in got)
        print(f"{name}: median client {client:.0f} us, backend {statistics.median(b for _, b in got):.0f} us a call")


def main() -> None:
    if sys.argv[1] == "--statement":
        rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 4
        calls = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
        with tempfile.TemporaryDirectory(prefix="mailintake-relay-ab-") as tmp:
            infra, stoppables = start_local_infra(Path(tmp))
            try:
                asyncio.run(statement_rounds(infra.database_url, rounds, calls))
            finally:
                for thing in stoppables:
                    thing.stop()  # type: ignore[attr-defined]
        return
    ref = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 300.0
    with tempfile.TemporaryDirectory(prefix="mailintake-relay-ab-") as tmp:
        base = Path(tmp, "base")
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        paths = {
            ref: os.pathsep.join([*(str(base / s) for s in SOURCES), str(base)]),
            "this checkout": os.pathsep.join([*(str(ROOT / s) for s in SOURCES), str(ROOT)]),
        }
        infra, stoppables = start_local_infra(Path(tmp, "stack"))
        try:
            from mailintake_common.kafka import ensure_topics
            from mailintake_common.settings import CommonSettings

            asyncio.run(
                ensure_topics(CommonSettings(database_url=infra.database_url, kafka_bootstrap=infra.bootstrap), [TOPIC])
            )
            assert infra.broker is not None and infra.broker.proc is not None
            broker = infra.broker.proc.pid
            results: dict[str, list[tuple[float, ...]]] = {name: [] for name in paths}
            for r in range(rounds):
                for name, path in paths.items() if r % 2 == 0 else reversed(paths.items()):
                    got = one_round(infra.database_url, infra.bootstrap, path, rows, rate, broker)
                    results[name].append(got)
                    print(
                        f"round {r + 1} {name}: relay {got[0]:.3f} ms/row, its backend {got[1]:.3f} ms/row,"
                        f" broker {got[2]:.3f} ms/row",
                        flush=True,
                    )
            for name, rounds_got in results.items():
                relay, backend, broker_ms = (statistics.median(g[i] for g in rounds_got) for i in range(3))
                print(
                    f"{name}: median relay {relay:.3f} ms/row, backend {backend:.3f} ms/row, broker {broker_ms:.3f}"
                    f" ms/row ({rounds} rounds of {rows} at {rate:g}/s)"
                )
        finally:
            for thing in stoppables:
                thing.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
