"""Routing's directory look-up on a small and a realistic directory, a git ref's code against this
checkout's (issue 18, session 11).

`python -m bench.routing_lookup [ref] [rounds] [calls]` starts one PostgreSQL (pg_stat_statements)
and, for each directory size in `LOOKUP_SIZES` ("customers:organisations,...", default
"3000:500,50000:20000"), a database for each side, migrated by that side's code and given the
same directory (employers with their own domain and payroll sender, a few sharing a domain, some
rows updated so that the table's order is not the ids'). Each round runs `calls` look-ups
(`lookup.seen_and_candidates`, autocommitted, as routing sends them) in a separate process, the
ref's code (an export of its libs/common and services/routing on `PYTHONPATH`) and this
checkout's in turn, a quarter each from a customer's address, from an unknown domain naming a
person with a date of birth, from an employer's payroll sender, and from an agent naming a CRN
and an ABN. It prints per look-up the
client's CPU (`time.process_time`) and PostgreSQL's execution and planning time
(pg_stat_statements), and a digest of every candidate list (ids, in order): the two sides must
find the same records. `LOOKUP_EXPLAIN=1` prints each shape's generic plan (EXPLAIN ANALYZE),
`LOOKUP_SHAPES=1` each shape's calls, plans and mean planning and execution time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from statistics import median
from typing import Any

from bench.support import ROOT, exported

SEED = """
INSERT INTO customers (customer_id, crn, given_name, family_name, date_of_birth, emails, case_ids)
SELECT format('C%s', lpad(i::text, 6, '0')), lpad(i::text, 9, '0') || 'K', 'Given' || i, 'Family' || i,
       make_date(1950 + i % 50, 1 + i % 12, 1 + i % 28), ARRAY['person' || i || '@example.net'],
       ARRAY['CASE' || (i / 2)]
FROM generate_series(0, :customers - 1) AS i;
INSERT INTO organisations (organisation_id, name, abn, email_domains, sender_addresses, kind)
SELECT format('O%s', lpad(i::text, 6, '0')), 'Employer ' || i || ' Pty Ltd', lpad(i::text, 11, '0'),
       ARRAY['employer' || (CASE WHEN i % 100 = 1 THEN i - 1 ELSE i END) || '.example.com'],
       ARRAY['payroll@employer' || i || '.example.com'], 'employer'
FROM generate_series(0, :organisations - 1) AS i;
UPDATE organisations SET updated_at = now() WHERE right(organisation_id, 2)::int % 7 = 0;
ANALYZE;
"""


def _clues(i: int, customers: int, organisations: int) -> Any:
    from mailintake_routing.domain.identify import Clues

    kind, j = i % 4, (i * 7919) % 1_000_003
    if kind == 0:
        sender = f"person{j % customers}@example.net"
        return Clues(emails=(sender,), sender=sender)
    if kind == 1:
        sender = f"someone{j}@unknown{j}.example.org"
        born = date(1950 + j % 50, 1 + j % 12, 1 + j % 28).isoformat()
        return Clues(emails=(sender,), sender=sender, people=(("Robin", "Smith", born),))
    if kind == 2:
        sender = f"payroll@employer{j % organisations}.example.com"
        return Clues(emails=(sender,), sender=sender)
    sender = f"accounts@agent{j}.example.org"  # an agent naming a customer's CRN and an employer's ABN
    crn, abn = f"{j % customers:09d}K", f"{j % organisations:011d}"
    return Clues(crns=(crn,), abns=(abn,), emails=(sender,), sender=sender)


def _literal(value: Any) -> str:
    """A parameter as an SQL literal of unknown type (EXECUTE takes no bound parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        inner = ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value)
        return "'{" + inner.replace("'", "''") + "}'"
    return "'" + str(value).replace("'", "''") + "'"


async def _explain(conn: Any, customers: int, organisations: int) -> None:
    """Each shape's generic plan (as the driver's prepared statement gets it), run."""
    from mailintake_routing.adapters import lookup

    raw = (await conn.get_raw_connection()).driver_connection
    await raw.execute("SET plan_cache_mode = force_generic_plan")
    for kind in range(4):
        params = lookup.params_of(_clues(kind, customers, organisations), None, 200)
        statement = lookup.statement_for(lookup.shape_of(params))
        assert statement is not None
        compiled = statement.compiled(conn.dialect)
        args = compiled.args(params)
        await raw.execute(f"PREPARE look_{kind} AS {compiled.sql}")
        plan = await raw.fetch(f"EXPLAIN ANALYZE EXECUTE look_{kind}({', '.join(map(_literal, args))})")
        print(f"--- shape {kind}", file=sys.stderr)
        for row in plan:
            print(row[0], file=sys.stderr)
        await raw.execute(f"DEALLOCATE look_{kind}")
    await raw.execute("RESET plan_cache_mode")


async def _worker(url: str, calls: int, customers: int, organisations: int) -> dict[str, Any]:
    from sqlalchemy import text

    from mailintake_common.db import make_engine
    from mailintake_common.settings import CommonSettings
    from mailintake_routing.adapters import lookup

    engine = make_engine(CommonSettings(database_url=url))
    digest = hashlib.sha256()
    async with engine.connect() as conn:
        for i in range(30):  # warm: prepared statements, generic plans
            await lookup.seen_and_candidates(conn, _clues(i, customers, organisations), 200)
        await conn.execute(text("SELECT pg_stat_statements_reset()"))
        await conn.commit()
        started = time.process_time()
        for i in range(calls):
            found = await lookup.seen_and_candidates(conn, _clues(i, customers, organisations), 200)
            ids = [[c.customer_id for c in found.customers], [o.organisation_id for o in found.organisations]]
            digest.update(json.dumps(ids).encode())
        client = time.process_time() - started
        executed = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(total_plan_time), 0),"
                    " coalesce(sum(calls), 0)"
                    " FROM pg_stat_statements WHERE query LIKE '%routing_directory_version%'"
                    " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        ).one()
        if os.environ.get("LOOKUP_SHAPES"):  # each shape's calls, plans, mean planning and execution (ms)
            shapes = await conn.execute(
                text(
                    "SELECT calls, plans, total_plan_time / greatest(plans, 1), total_exec_time / calls, query"
                    " FROM pg_stat_statements WHERE query LIKE '%routing_directory_version%'"
                    " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC"
                )
            )
            for shape_calls, plans, plan_ms, exec_ms, query in shapes:
                branches = ",".join(str(b) for b in range(6) if f"SELECT {b}," in query)
                print(
                    f"calls {shape_calls} plans {plans} plan {plan_ms:.3f} exec {exec_ms:.3f} branches {branches}",
                    file=sys.stderr,
                )
        await conn.commit()
        if os.environ.get("LOOKUP_EXPLAIN"):
            await _explain(conn, customers, organisations)
    await engine.dispose()
    return {
        "client_ms": client * 1000 / calls,
        "pg_exec_ms": float(executed[0]) / calls,
        "pg_plan_ms": float(executed[1]) / calls,
        "look_ups": float(executed[2]) / calls,
        "digest": digest.hexdigest()[:16],
    }


async def _setup(url: str, customers: int, organisations: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from mailintake_common.migrate import upgrade

    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        for part in SEED.split(";"):
            if part.strip():
                sql = part.replace(":customers", str(customers)).replace(":organisations", str(organisations))
                await conn.execute(text(sql))
    await engine.dispose()


def _run(pythonpath: str | None, *args: str) -> str:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-m", "bench.routing_lookup", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if out.stderr.strip():
        print(out.stderr[-6000:], file=sys.stderr)
    out.check_returncode()
    return out.stdout


def counting_postgres(directory: Path) -> Any:
    """A private PostgreSQL (fsync off) that counts statements and their planning, started."""
    from mailintake_common.devstack import Postgres, free_port

    options = ("-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track_planning=on")
    pg = Postgres(directory, free_port(), fast=True, options=options)
    pg.start()
    return pg


def main(ref: str = "main", rounds: int = 3, calls: int = 600) -> None:
    sizes = [
        tuple(int(n) for n in s.split(":")) for s in os.environ.get("LOOKUP_SIZES", "3000:500,50000:20000").split(",")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"old": exported(ref, Path(tmp) / "old"), "new": None}
        pg = counting_postgres(Path(tmp) / "pg")
        try:
            for customers, organisations in sizes:
                urls = {}
                for name, path in variants.items():
                    database = f"{name}_{customers}_{organisations}"
                    subprocess.run(
                        [
                            str(Path(pg_bin_dir()) / "createdb"),
                            "-h",
                            "127.0.0.1",
                            "-p",
                            str(pg.port),
                            "-U",
                            "mailintake",
                            database,
                        ],
                        check=True,
                    )
                    urls[name] = pg.url.rsplit("/", 1)[0] + "/" + database
                    _run(path, "--setup", urls[name], str(customers), str(organisations))
                results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
                for i in range(rounds):
                    for name in variants if i % 2 == 0 else reversed(variants):
                        args = ("--worker", urls[name], str(calls), str(customers), str(organisations))
                        result = json.loads(_run(variants[name], *args).strip().splitlines()[-1])
                        results[name].append(result)
                        shown = ", ".join(
                            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()
                        )
                        print(
                            f"{customers}/{organisations} round {i + 1} {name}: {shown} load {os.getloadavg()[0]:.1f}",
                            flush=True,
                        )
                for name, rows in results.items():
                    keys = ("client_ms", "pg_exec_ms", "pg_plan_ms")
                    summary = ", ".join(f"{k} {median(r[k] for r in rows):.3f}" for k in keys)
                    digests = sorted({r["digest"] for r in rows})
                    print(f"{customers}/{organisations} median {name}: {summary}; digests {digests}")
        finally:
            pg.stop()


def pg_bin_dir() -> str:
    from mailintake_common.devstack import pg_bin

    return str(pg_bin())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(asyncio.run(_worker(sys.argv[2], *(int(a) for a in sys.argv[3:6])))))
    elif sys.argv[1:2] == ["--setup"]:
        asyncio.run(_setup(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        args = sys.argv[1:]
        main(args[0] if args else "main", *(int(a) for a in args[1:3]))
