"""A process keeps the database connections it opens (issue 18).

SQLAlchemy closes an overflow connection as soon as it is returned; at saturation the consumers
ran more units at once than the pool kept, so connections were opened and closed all the time and
PostgreSQL spent 1-3 ms of CPU per document starting and ending backends. The pool now opens up
to twice `MAILINTAKE_DB_POOL_SIZE`, as before, and keeps every one of them.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from mailintake_common.db import autocommit, make_engine, reading
from mailintake_common.settings import CommonSettings
from tests.support.stack import Infra

pytestmark = pytest.mark.slow


async def test_connections_opened_for_a_burst_are_kept_and_reused_by_the_next(infra: Infra) -> None:
    engine = make_engine(CommonSettings(database_url=infra.database_url, db_pool_size=2))
    held = asyncio.Event()

    async def hold() -> int:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await held.wait()
            return int(pid)

    try:
        burst = [asyncio.create_task(hold()) for _ in range(4)]  # twice the setting, all at once
        while engine.pool.checkedout() < 4:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        held.set()
        first = set(await asyncio.gather(*burst))
        assert len(first) == 4
        assert engine.pool.checkedin() == 4  # type: ignore[attr-defined]  # none closed on return

        held.clear()
        again = [asyncio.create_task(hold()) for _ in range(4)]
        while engine.pool.checkedout() < 4:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        held.set()
        assert set(await asyncio.gather(*again)) == first  # the same backends: nothing started afresh
    finally:
        await engine.dispose()


async def test_reads_without_a_transaction_share_the_pool_and_leave_no_autocommit_behind(infra: Infra) -> None:
    """Issue 18: `reading` and `autocommit` take connections that are AUTOCOMMIT from their checkout
    (an engine over the same pool, not a setting changed after it): a statement there is its own
    transaction (no BEGIN: another session sees its write at once), and the same connection back in
    the pool is transactional again for `engine.connect()` (a rollback takes back its write)."""
    engine = make_engine(CommonSettings(database_url=infra.database_url, db_pool_size=1))
    table = f"t_{id(engine)}"
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {table} (n int)"))
        async with reading(engine) as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await conn.execute(text(f"INSERT INTO {table} VALUES (1)"))
            async with engine.connect() as other:  # the second pooled connection
                assert (await other.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 1
        await autocommit(engine, lambda conn: conn.execute(text(f"INSERT INTO {table} VALUES (2)")))
        async with engine.connect() as conn:
            pids = {(await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()}
            await conn.execute(text(f"INSERT INTO {table} VALUES (3)"))
            await conn.rollback()  # transactional again: the insert is taken back
        async with engine.connect() as conn:
            pids.add((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 2
        assert pid in pids  # one pool: the reading connection came back to it
        assert engine.pool.checkedin() <= 2  # type: ignore[attr-defined]
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()
