"""Hot statements run on the asyncpg connection underneath SQLAlchemy keep its promises (issue 18).

SQLAlchemy's asyncpg adapter begins its transaction lazily, at the first statement it runs, so a
statement sent to the driver first on a connection from `engine.begin()` would run outside the
transaction. These tests, on a real PostgreSQL, hold `statements.run` to what SQLAlchemy's own
execution does: a statement runs inside the unit's transaction and a rollback takes it back,
whichever ran first; a unit's pending writes go before it; errors are SQLAlchemy's, and a dead
connection is invalidated and says so.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import String, bindparam, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from mailintake_common import statements
from mailintake_common.db import alone, is_dead_connection, is_unavailable, make_engine, unit_of_work
from mailintake_common.settings import CommonSettings
from mailintake_common.statements import Statement
from mailintake_common.tables import documents, timeline
from tests.support.stack import Infra

pytestmark = pytest.mark.slow

_ADD = Statement(
    insert(timeline).values(
        document_id=bindparam("document", type_=String),
        stage="test",
        outcome=bindparam("outcome", type_=String),
        reasons=[],
    )
)
_COUNT = Statement(
    select(func.count()).select_from(timeline).where(timeline.c.document_id == bindparam("document", type_=String)),
    lambda row: int(row[0]),
)


@pytest.fixture
async def engine(infra: Infra) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(CommonSettings(database_url=infra.database_url, db_pool_size=1))
    yield engine
    await engine.dispose()


async def new_document(engine: AsyncEngine) -> str:
    document_id = uuid.uuid4().hex
    async with unit_of_work(engine) as uow:
        await uow.documents.create(document_id, channel="webform", received_at=datetime.now(UTC))
    return document_id


async def entries(engine: AsyncEngine, document_id: str) -> int:
    return (await alone(engine, _COUNT, {"document": document_id}))[0]


async def test_a_driver_statement_first_on_a_begun_connection_is_rolled_back_with_it(engine: AsyncEngine) -> None:
    document_id = await new_document(engine)
    async with engine.begin() as conn:
        await statements.run(conn, _ADD, {"document": document_id, "outcome": "first"})
        # seen inside the transaction (one connection), not outside it
        assert (await statements.run(conn, _COUNT, {"document": document_id})) == [1]
        assert await entries(engine, document_id) == 0
        await conn.rollback()
    assert await entries(engine, document_id) == 0


async def test_a_driver_statement_on_a_plain_connection_is_in_the_transaction_sqlalchemy_begins(
    engine: AsyncEngine,
) -> None:
    document_id = await new_document(engine)
    async with engine.connect() as conn:  # SQLAlchemy would begin at the first statement
        await statements.run(conn, _ADD, {"document": document_id, "outcome": "driver"})
        assert conn.in_transaction()
        await conn.execute(timeline.insert().values(document_id=document_id, stage="test", outcome="orm", reasons=[]))
        await conn.rollback()  # both go
    assert await entries(engine, document_id) == 0
    async with engine.connect() as conn:
        await conn.execute(timeline.insert().values(document_id=document_id, stage="test", outcome="orm", reasons=[]))
        await statements.run(conn, _ADD, {"document": document_id, "outcome": "driver"})
        await conn.commit()  # both stay
    assert await entries(engine, document_id) == 2


async def test_a_failed_unit_leaves_nothing_its_driver_statements_wrote(engine: AsyncEngine) -> None:
    document_id = await new_document(engine)
    with pytest.raises(RuntimeError):
        async with unit_of_work(engine) as uow:
            await statements.run(uow.conn, _ADD, {"document": document_id, "outcome": "driver"})
            await uow.documents.add_timeline(document_id, "test", "deferred")
            raise RuntimeError("the handler failed after writing")
    assert await entries(engine, document_id) == 0


async def test_a_units_pending_writes_go_before_a_driver_statement(engine: AsyncEngine) -> None:
    document_id = await new_document(engine)
    async with unit_of_work(engine) as uow:
        await uow.documents.add_timeline(document_id, "test", "deferred")
        assert uow.writes  # still pending
        assert await statements.run(uow.conn, _COUNT, {"document": document_id}) == [1]
        assert not uow.writes
    assert await entries(engine, document_id) == 1


async def test_alone_refuses_a_connection_inside_a_transaction(engine: AsyncEngine) -> None:
    document_id = await new_document(engine)
    async with engine.begin() as conn:
        with pytest.raises(RuntimeError):
            await statements.run(conn, _ADD, {"document": document_id, "outcome": "x"}, alone=True)


async def test_errors_are_sqlalchemys_and_a_dead_connection_is_invalidated(engine: AsyncEngine, infra: Infra) -> None:
    document_id = await new_document(engine)
    unknown = Statement(insert(timeline).values(document_id="no-such-document", stage="t", outcome="o", reasons=[]))
    with pytest.raises(IntegrityError) as refused:  # the foreign key, as SQLAlchemy raises it
        await alone(engine, unknown)
    assert not is_dead_connection(refused.value) and not is_unavailable(refused.value)

    admin = create_async_engine(infra.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            pid = (await statements.run(conn, Statement("SELECT pg_backend_pid()")))[0][0]
            await conn.rollback()
            async with admin.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as dead:
                await statements.run(conn, _ADD, {"document": document_id, "outcome": "x"})
            assert is_dead_connection(dead.value) and is_unavailable(dead.value)
            assert conn.invalidated
    finally:
        await admin.dispose()
    assert await entries(engine, document_id) == 0  # the pool connects afresh
    async with engine.connect() as conn:
        assert (await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))).one()


async def test_a_commit_on_the_driver_ends_both_sides_and_a_failed_one_is_sqlalchemys_error(
    engine: AsyncEngine, infra: Infra
) -> None:
    """Issue 18: `statements.commit` sends COMMIT on the driver connection; SQLAlchemy's transaction
    ends with it (the next statement begins afresh), a COMMIT the server refuses raises what
    SQLAlchemy would (nothing written), and one on a dead connection invalidates it."""
    document_id = await new_document(engine)
    async with unit_of_work(engine) as uow:  # BEGIN, a driver statement, the deferred writes, COMMIT
        await statements.run(uow.conn, _ADD, {"document": document_id, "outcome": "driver"})
        await uow.documents.add_timeline(document_id, "test", "deferred")
    assert await entries(engine, document_id) == 2
    async with engine.connect() as conn:
        await statements.run(conn, _ADD, {"document": document_id, "outcome": "again"})
        await statements.commit(conn)
        assert not conn.in_transaction()
        await statements.run(conn, _ADD, {"document": document_id, "outcome": "then"})
        await conn.rollback()  # a new transaction: only the last one goes
    assert await entries(engine, document_id) == 3

    async with engine.connect() as conn:  # checked at COMMIT: a deferred unique constraint
        await conn.execute(text("CREATE TEMP TABLE once (n int UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
        await conn.commit()
        await statements.run(conn, _ADD, {"document": document_id, "outcome": "refused"})
        await statements.run(conn, Statement("INSERT INTO once VALUES (1), (1)"))
        with pytest.raises(IntegrityError):
            await statements.commit(conn)
        assert not conn.invalidated
        await conn.rollback()
        assert (await statements.run(conn, Statement("SELECT count(*) FROM once")))[0][0] == 0
    assert await entries(engine, document_id) == 3

    admin = create_async_engine(infra.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            pid = (await statements.run(conn, Statement("SELECT pg_backend_pid()")))[0][0]
            await statements.run(conn, _ADD, {"document": document_id, "outcome": "lost"})
            async with admin.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as dead:
                await statements.commit(conn)
            assert is_dead_connection(dead.value) and is_unavailable(dead.value)
    finally:
        await admin.dispose()
    assert await entries(engine, document_id) == 3
