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

from mailintake_common.db import make_engine
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
