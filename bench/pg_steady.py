"""PostgreSQL's CPU per document once the pools have filled (issue 18, session 13).

`python -m bench.pg_steady` runs the pipeline bench's saturation run (`BENCH_E2E_SECONDS`, 60;
5 KB e-mails and web forms, `BENCH_E2E_CONCURRENCY`) on a private stack, as `bench.pg_wal`
does, and measures a window inside it: from `BENCH_PG_WARM` seconds after the first POST (20)
for `BENCH_PG_WINDOW` seconds (30). The whole run's figure carries each pool's connections
opened while the load rose (a backend's start and its statements planned again) and a fresh
database's growth; the window's does not. A window holds parts of documents (intake ahead of
routing), so each service's figure is over the documents its stage finished in the window (its
timeline rows there over its timeline rows per document in the whole run), and PostgreSQL's and
the broker's over the mean of the stages'. It prints each process's CPU ms
per document for the whole run and for the window, the window's WAL per document, the backends
started in it, and `pg_stat_statements` over it (calls, plans, execution and planning ms per
document, microseconds a call). `BENCH_PG_PERF=path` records PostgreSQL's processes with
`perf` over the window only.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.bench_pipeline import ENV, SECONDS, documents_end_to_end
from bench.pg_wal import OPTIONS, _perf_start, _perf_stop
from bench.support import cpu_of, private_stack
from tests.support.stack import Infra, Service

WARM = float(os.environ.get("BENCH_PG_WARM", "20"))
WINDOW = float(os.environ.get("BENCH_PG_WINDOW", "30"))
# One reading of the database at a window's edge: backends started so far, timeline rows, WAL
MARK = (
    "SELECT (SELECT sessions FROM pg_stat_database WHERE datname = current_database()),"
    " (SELECT coalesce(max(id), 0) FROM timeline), pg_current_wal_insert_lsn()::text"
)
STATEMENTS = (
    "SELECT calls, plans, total_exec_time, total_plan_time, query FROM pg_stat_statements"
    " WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time + total_plan_time DESC"
)


async def _rows(engine: AsyncEngine, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(text(sql))
        return list(result.all()) if result.returns_rows else []


async def measure(infra: Infra, services: dict[str, Service]) -> list[str]:
    """The run and its window; the report's lines."""
    if WARM + WINDOW > SECONDS:
        raise SystemExit(f"the window ({WARM:.0f} + {WINDOW:.0f} s) must end before the POSTs do ({SECONDS:.0f} s)")
    assert infra.postgres is not None and infra.postgres.proc is not None
    engine = create_async_engine(infra.database_url, isolation_level="AUTOCOMMIT")
    try:
        await _rows(engine, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        start = cpu_of(infra, services)
        run = asyncio.create_task(documents_end_to_end(services["intake"].base_url, infra.database_url))
        await asyncio.sleep(WARM)
        await _rows(engine, "SELECT pg_stat_statements_reset()")
        (sessions0, timeline0, lsn0), cpu0 = (await _rows(engine, MARK))[0], cpu_of(infra, services)
        perf = _perf_start(infra.postgres.proc.pid)
        await asyncio.sleep(WINDOW)
        _perf_stop(perf)
        cpu1 = cpu_of(infra, services)
        sessions1, timeline1, lsn1 = (await _rows(engine, MARK))[0]
        statements = await _rows(engine, STATEMENTS)
        wal = float((await _rows(engine, f"SELECT pg_wal_lsn_diff('{lsn1}', '{lsn0}')"))[0][0])
        docs, rate, _, _ = await run
        end = cpu_of(infra, services)
        stages = await _rows(
            engine,
            f"SELECT stage, count(*) FILTER (WHERE id > {timeline0} AND id <= {timeline1}), count(*)"
            " FROM timeline GROUP BY stage",
        )
    finally:
        await engine.dispose()
    # each stage's documents in the window: its timeline rows there over its rows per document
    done = {stage: in_window * docs / total for stage, in_window, total in stages if total >= docs / 2}
    worth = sum(done.values()) / len(done)  # PostgreSQL and the broker serve every stage
    of = {name: done.get(name, worth) for name in cpu1}
    calls, plans = sum(r[0] for r in statements), sum(r[1] for r in statements)
    exec_ms, plan_ms = sum(r[2] for r in statements), sum(r[3] for r in statements)
    lines = [
        f"{docs} documents, {rate:.1f}/s; window {WARM:.0f}-{WARM + WINDOW:.0f} s, documents through each stage: "
        + ", ".join(f"{stage} {n:.0f}" for stage, n in sorted(done.items()))
        + f" (mean {worth:.0f}); load average {os.getloadavg()[0]:.1f}",
        "CPU ms per document, whole run: " + ", ".join(f"{k} {(end[k] - start[k]) * 1000 / docs:.2f}" for k in end),
        "CPU ms per document, window:    " + ", ".join(f"{k} {(cpu1[k] - cpu0[k]) * 1000 / of[k]:.2f}" for k in cpu1),
        f"window: WAL {wal / worth:,.0f} bytes per document; backends started {sessions1 - sessions0}",
        f"window: statements {calls / worth:.2f}, plans {plans / worth:.3f}, execution {exec_ms / worth:.3f} ms,"
        f" planning {plan_ms / worth:.3f} ms per document (wall clock in the backends)",
        "-- calls, plans, execution ms, planning ms per document; execution us a call",
    ]
    for n, p, e, pl, query in statements[:16]:
        lines.append(
            f"{n / worth:5.2f} {p / worth:6.3f} {e / worth:6.3f} {pl / worth:6.3f} {1000 * e / max(n, 1):8.1f}"
            f"  {' '.join(query.split())[:120]}"
        )
    return lines


def main() -> None:
    with private_stack(("intake", "quarantine", "classifier", "routing"), ENV, OPTIONS) as (infra, services):
        for line in asyncio.run(measure(infra, services)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
