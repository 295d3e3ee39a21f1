"""Counting the statements PostgreSQL ran (pg_stat_statements), for the round-trip tests (issue 18)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mailintake_common.db import make_engine
from mailintake_common.settings import CommonSettings
from tests.support.stack import migrated_postgres

MARK = "counting_statements"  # in the counter's own queries, which are left out


def counting_postgres(directory: Path) -> AbstractContextManager[str]:
    """A migrated PostgreSQL of the test's own that counts statements; yields its URL."""
    options = ("-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track_planning=on")
    return migrated_postgres(directory, options)


@asynccontextmanager
async def warmed_engine(settings: CommonSettings) -> AsyncIterator[AsyncEngine]:
    """The settings' engine, its dialect's first-connection queries already run (not counted)."""
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            await conn.execute(select(1))
        yield engine
    finally:
        await engine.dispose()


async def statements_during(database_url: str, action: Callable[[], Awaitable[object]]) -> Counter[str]:
    """The statements every connection ran while `action` ran: calls by statement text."""
    return Counter({query: calls for query, (calls, _) in (await planned_during(database_url, action)).items()})


async def planned_during(database_url: str, action: Callable[[], Awaitable[object]]) -> dict[str, tuple[int, int]]:
    """The statements every connection ran while `action` ran: (calls, times planned) by text."""
    engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"/* {MARK} */ CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            await conn.execute(text(f"/* {MARK} */ SELECT pg_stat_statements_reset()"))
        await action()
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"/* {MARK} */ SELECT query, calls, plans FROM pg_stat_statements WHERE query NOT LIKE '%{MARK}%'"
                    " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            return {" ".join(query.split()): (calls, plans) for query, calls, plans in rows}
    finally:
        await engine.dispose()


async def run_script(database_url: str, script: str) -> None:
    """Run `script`'s statements (separated by ';') in turn, each autocommitted: a test's fill."""
    engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for sql in filter(str.strip, script.split(";")):
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


def by_kind(counted: Counter[str]) -> Counter[str]:
    """Calls by the statement's first word (BEGIN, COMMIT, WITH, INSERT, SELECT, UPDATE...)."""
    kinds: Counter[str] = Counter()
    for query, calls in counted.items():
        kinds[query.split()[0].upper()] += calls
    return kinds
