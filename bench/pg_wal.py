"""Where PostgreSQL's WAL and CPU go per document (issue 18, session 10).

`python -m bench.pg_wal` runs the pipeline bench's saturation run (`BENCH_E2E_SECONDS`, 5 KB
e-mails and web forms, `BENCH_E2E_CONCURRENCY`) on a private stack, then prints per document:
PostgreSQL's CPU, the WAL by record type (`pg_waldump --stats=record` over the run's LSN range)
and by relation (each record's first block, relfilenodes mapped to tables, indexes and TOAST),
each table's inserts, updates (HOT or not) and deletes, each index's scans, the size of the rows
kept, and the statements that wrote the most WAL (`pg_stat_statements`). `BENCH_WAL_FILE=path`
also writes the report; `BENCH_PG_PERF=path` records PostgreSQL's processes with `perf record`
during the run; `BENCH_WAL_SETUP="SQL; SQL"` runs statements before it (an experiment's schema
change, e.g. a table's fillfactor).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.bench_pipeline import ENV, STATEMENTS_LIBRARY, documents_end_to_end
from bench.support import cpu_of, private_stack
from mailintake_common.devstack import pg_bin

# The WAL of the run must still be there when pg_waldump reads it.
OPTIONS = (
    *STATEMENTS_LIBRARY,
    *("-c", "wal_keep_size=4GB", "-c", "pg_stat_statements.track_utility=off"),
    *("-c", "pg_stat_statements.track_planning=on"),
)
RECORD = re.compile(r"rmgr: (\S+)\s+len \(rec/tot\):\s+(\d+)/\s*(\d+),.*?desc: (\S+)(.*)$")
BLOCK = re.compile(r"blkref #0: rel \d+/\d+/(\d+)(?: fork (\w+))?")
FPW = re.compile(r"FPW")


async def _rows(database_url: str, sql: str) -> list[Any]:
    engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql))
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


TABLE_STATS = "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
INDEX_STATS = "SELECT indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes"
NAMES = (
    "SELECT c.relfilenode, CASE WHEN c.relkind = 't' THEN coalesce(o.relname, c.relname) || ' (TOAST)'"
    " WHEN c.relkind = 'i' AND t.relkind = 't' THEN coalesce(ot.relname, t.relname) || ' (TOAST index)'"
    " ELSE c.relname END FROM pg_class c"
    " LEFT JOIN pg_class o ON o.reltoastrelid = c.oid"
    " LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid"
    " LEFT JOIN pg_class ot ON ot.reltoastrelid = t.oid"
    " WHERE c.relfilenode <> 0"
)


SIZES = (
    "SELECT 'blob ' || media_type, count(*), avg(size), avg(pg_column_size(content)) FROM blobs GROUP BY 1"
    " UNION ALL SELECT 'outbox value ' || event_type, count(*), avg(length(value)), avg(pg_column_size(value))"
    " FROM outbox GROUP BY 1"
    " UNION ALL SELECT 'outbox headers', count(*), avg(length(headers::text)), avg(pg_column_size(headers)) FROM outbox"
    " UNION ALL SELECT 'outbox row', count(*), avg(pg_column_size(outbox.*)), NULL FROM outbox"
    " UNION ALL SELECT 'heap bytes per row: ' || relname, n_live_tup,"
    " pg_relation_size(relid) / greatest(n_live_tup, 1), NULL FROM pg_stat_user_tables"
    " WHERE relname IN ('outbox', 'documents', 'blobs')"
    " ORDER BY 1"
)


def _delta(before: list[Any], after: list[Any]) -> dict[str, list[int]]:
    old = {row[0]: [int(v or 0) for v in row[1:]] for row in before}
    return {
        row[0]: [int(v or 0) - o for v, o in zip(row[1:], old.get(row[0], [0] * len(row[1:])), strict=True)]
        for row in after
    }


def waldump(data_dir: Path, start: str, end: str) -> tuple[str, list[str]]:
    """(`--stats=record` output, every record's line) over [start, end)."""
    tool = str(pg_bin() / "pg_waldump")
    args = [tool, "-p", str(data_dir / "pg_wal"), "-s", start, "-e", end]
    stats = subprocess.run([*args, "--stats=record"], capture_output=True, text=True, timeout=600, check=False)
    lines = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    return stats.stdout, lines.stdout.splitlines()


def by_relation(lines: list[str], names: dict[int, str]) -> dict[tuple[str, str], list[int]]:
    """(relation, rmgr/record) -> [records, bytes, full-page images]."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in lines:
        found = RECORD.search(line)
        if not found:
            continue
        rmgr, _, total, kind, rest = found.groups()
        block = BLOCK.search(rest)
        relation = "-"
        if block:
            node = int(block.group(1))
            relation = names.get(node, f"relfilenode {node}")
            if block.group(2):
                relation += f" ({block.group(2)})"
        entry = out[(relation, f"{rmgr}/{kind}")]
        entry[0] += 1
        entry[1] += int(total)
        entry[2] += len(FPW.findall(rest))
    return out


def _perf_start(root: int) -> subprocess.Popen[bytes] | None:
    """`perf record` of every PostgreSQL process (and those it starts) into BENCH_PG_PERF, if set."""
    if not (path := os.environ.get("BENCH_PG_PERF")) or not root:
        return None
    import psutil

    pids = [root, *(p.pid for p in psutil.Process(root).children(recursive=True))]
    cmd = ["perf", "record", "-q", "-g", "-F", "997", "-o", path, "-p", ",".join(map(str, pids))]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _perf_stop(perf: subprocess.Popen[bytes] | None) -> None:
    if perf is not None:
        perf.send_signal(2)
        perf.wait(60)


def main() -> None:
    report: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        report.append(line)

    with private_stack(("intake", "quarantine", "classifier", "routing"), ENV, OPTIONS) as (infra, services):
        url = infra.database_url
        assert infra.postgres is not None
        asyncio.run(_rows(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        for sql in filter(None, os.environ.get("BENCH_WAL_SETUP", "").split(";")):  # an experiment's schema change
            asyncio.run(_rows(url, sql))
        tables_before = asyncio.run(_rows(url, TABLE_STATS))
        indexes_before = asyncio.run(_rows(url, INDEX_STATS))
        asyncio.run(_rows(url, "SELECT pg_stat_statements_reset()"))
        start = asyncio.run(_rows(url, "SELECT pg_current_wal_insert_lsn()::text"))[0][0]
        cpu_before = cpu_of(infra, services)
        perf = _perf_start(infra.postgres.proc.pid if infra.postgres.proc else 0)
        docs, rate, _, _ = asyncio.run(documents_end_to_end(services["intake"].base_url, url))
        _perf_stop(perf)
        cpu_after = cpu_of(infra, services)
        end = asyncio.run(_rows(url, "SELECT pg_current_wal_insert_lsn()::text"))[0][0]
        wal = asyncio.run(_rows(url, f"SELECT pg_wal_lsn_diff('{end}', '{start}')"))[0][0]
        statements = asyncio.run(
            _rows(
                url,
                "SELECT calls, plans, wal_bytes, wal_records, wal_fpi, total_exec_time, total_plan_time, query"
                " FROM pg_stat_statements ORDER BY wal_bytes DESC, total_exec_time + total_plan_time DESC LIMIT 30",
            )
        )
        tables = _delta(tables_before, asyncio.run(_rows(url, TABLE_STATS)))
        indexes = _delta(indexes_before, asyncio.run(_rows(url, INDEX_STATS)))
        sizes = asyncio.run(_rows(url, SIZES))
        names = {int(n): str(name) for n, name in asyncio.run(_rows(url, NAMES))}
        stats, lines = waldump(infra.postgres.data_dir, start, end)
    cpu = {name: (cpu_after[name] - cpu_before[name]) * 1000 / docs for name in cpu_after}
    say(f"{docs} documents, {rate:.1f}/s; WAL {wal / docs:,.0f} bytes per document ({start} -> {end})")
    say("CPU ms per document: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    say("\n-- WAL by relation and record, per document (records, bytes, full-page images)")
    grouped = by_relation(lines, names)
    per_relation: dict[str, int] = defaultdict(int)
    for (relation, _), (_, size, _) in grouped.items():
        per_relation[relation] += size
    for relation, size in sorted(per_relation.items(), key=lambda kv: -kv[1]):
        say(f"{size / docs:9,.0f}  {relation}")
        for (rel, kind), (count, nbytes, fpi) in sorted(grouped.items(), key=lambda kv: -kv[1][1]):
            if rel == relation and nbytes / docs >= 20:
                say(f"           {nbytes / docs:8,.0f}  {count / docs:6.2f} rec  {fpi / docs:5.2f} fpi  {kind}")
    say("\n-- tables per document: inserted, updated, of them HOT, deleted")
    for name, (ins, upd, hot, dele) in sorted(tables.items(), key=lambda kv: -sum(kv[1])):
        if ins or upd or dele:
            say(f"{name:32} {ins / docs:6.2f} {upd / docs:6.2f} {hot / docs:6.2f} {dele / docs:6.2f}")
    say("\n-- index scans per document (tuples read)")
    for name, (scans, read) in sorted(indexes.items(), key=lambda kv: -kv[1][0]):
        say(f"{name:44} {scans / docs:7.2f} ({read / docs:.2f})")
    say("\n-- statements by WAL per document: calls, plans, WAL bytes, records, fpi, exec ms, plan ms")
    for calls, plans, wbytes, records, fpi, exec_ms, plan_ms, query in statements:
        say(
            f"{calls / docs:5.2f} {plans / docs:5.2f} {int(wbytes) / docs:8,.0f}"
            f" {records / docs:6.2f} {fpi / docs:5.2f} {exec_ms / docs:6.3f} {plan_ms / docs:6.3f}"
            f"  {' '.join(query.split())[:160]}"
        )
    say("\n-- rows kept per document: what, rows, mean bytes, mean bytes stored")
    for what, count, raw, stored in sizes:
        say(f"{what:40} {count / docs:6.2f} {float(raw or 0):8,.0f} {float(stored or 0):8,.0f}")
    say("\n-- pg_waldump --stats=record over the run")
    for line in stats.splitlines():
        say(line)
    if path := os.environ.get("BENCH_WAL_FILE"):
        Path(path).write_text("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
