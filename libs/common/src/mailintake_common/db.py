"""The database engine and the unit of work: one transaction for state and its events.

A handler or route opens `unit_of_work(engine)`, changes state through the repositories
it offers, adds events to its outbox, and everything commits together or not at all.

Dropped connections (issue 18): the pool does not ping before each checkout (with asyncpg a
ping is three round trips: BEGIN, an empty query, ROLLBACK). Instead a checkout hands out a
connection only if the driver has not seen it closed, which costs no round trip and catches a
server that restarted or terminated the backend; and code that opens a transaction with a
statement of its own (`first_statement`, `autocommit`) runs it again once on a fresh connection
when the pooled one turns out dead, since nothing was written on it. Any other statement that
meets a dead connection fails like any database error (a 503, or a retried event), and the pool
then replaces every connection older than the failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from mailintake_common import statements
from mailintake_common.settings import CommonSettings
from mailintake_common.statements import Statement
from mailintake_common.writes import Taken, Writes, of_connection, send

SETTINGS_OPTION = "mailintake_settings"  # a connection's execution option: the settings it was made with
T = TypeVar("T")


def make_engine(settings: CommonSettings) -> AsyncEngine:
    """The engine for `settings`; its connections carry them, so `uow.blobs` is the store they choose."""
    engine = create_async_engine(
        settings.database_url,
        execution_options={SETTINGS_OPTION: settings},
        # Up to twice the setting, each kept once opened: an overflow connection was closed as
        # soon as it was returned, and at saturation (4 partitions x 4 documents in flight) the
        # backends started and ended cost PostgreSQL 1-3 ms of CPU per document (issue 18).
        pool_size=2 * settings.db_pool_size,
        max_overflow=0,
        pool_pre_ping=settings.db_ping_on_checkout,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args={"timeout": settings.db_connect_timeout_s},
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection the driver already saw closed (server restart, terminated backend) is
    replaced before use: the pool catches DisconnectionError and connects afresh."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("pooled connection closed by the server")


def is_dead_connection(exc: BaseException) -> bool:
    """The statement failed because its pooled connection was dead (SQLAlchemy invalidated it)."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def autocommitting(engine: AsyncEngine) -> AsyncEngine:
    """`engine` whose connections are AUTOCOMMIT from their checkout on (the same pool; set back
    when they return to it). Setting it on a connection after its checkout cost one more greenlet
    hop, about 20 us a use (issue 18)."""
    sync: Any = engine.sync_engine
    made: AsyncEngine | None = getattr(sync, "_mailintake_autocommitting", None)
    if made is None:
        made = engine.execution_options(isolation_level="AUTOCOMMIT")
        sync._mailintake_autocommitting = made
    return made


async def autocommit(engine: AsyncEngine, statement: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run one statement as its own transaction: one round trip, no BEGIN or COMMIT.

    For a single statement (a read, an upsert) whose outcome needs no other statement.
    Run again once on a fresh connection when the pooled one was dead."""
    return await _again_if_dead(autocommitting(engine), statement)


async def alone(engine: AsyncEngine, statement: Statement[T], params: dict[str, Any] | None = None) -> list[T]:
    """`statement` as its own transaction on the driver connection (statements.py): one round
    trip, no BEGIN or COMMIT; run again once on a fresh connection when the pooled one was dead."""
    return await _again_if_dead(engine, lambda conn: statements.run(conn, statement, params, alone=True))


async def _again_if_dead(engine: AsyncEngine, statement: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`statement(conn)` on a pooled connection; once more on a fresh one when that one was dead."""
    for retry in (False, True):
        try:
            async with engine.connect() as conn:
                return await statement(conn)
        except DBAPIError as exc:
            if retry or not is_dead_connection(exc):
                raise
    raise AssertionError("unreachable")


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads that need no transaction: each statement is its own snapshot,
    without the BEGIN and ROLLBACK round trips of `engine.connect()`."""
    async with autocommitting(engine).connect() as conn:
        yield conn


@asynccontextmanager
async def first_statement(
    engine: AsyncEngine, statement: Callable[[AsyncConnection], Awaitable[T]]
) -> AsyncIterator[tuple[AsyncConnection, T]]:
    """`engine.begin()` whose first statement is `statement` (its result comes with the connection).

    When the pooled connection was dead, that first statement fails before anything is written:
    it runs once more, in a fresh transaction on a fresh connection."""
    for retry in (False, True):
        async with engine.connect() as conn:  # closing it rolls back what did not commit
            try:
                result = await statement(conn)  # begins the transaction
            except DBAPIError as exc:
                if retry or not is_dead_connection(exc):
                    raise
                continue
            yield conn, result
            await statements.commit(conn)
            return
    raise AssertionError("unreachable")


def is_unavailable(exc: BaseException) -> bool:
    """True when an error means the database cannot be reached now (not a bad statement).

    A pool with no free connection within the timeout (`PoolTimeout`, a busy moment) counts:
    the request is answered 503 with Retry-After, not 500.
    """
    if isinstance(exc, (OperationalError, InterfaceError, OSError, TimeoutError, PoolTimeout)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    name = type(getattr(exc, "orig", exc)).__name__
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "InterfaceError",
        "AdminShutdownError",
        "TooManyConnectionsError",
    }


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@dataclass
class UnitOfWork:
    """What a handler may touch inside its transaction.

    Write-only statements (timeline, details, blob content and links, outbox rows) wait in
    `writes` and go to the database as one statement when the unit ends, before COMMIT, or
    before any other statement on its connection (`writes.py`, issue 18); whoever opens a unit
    flushes it (`flush`) before committing.
    """

    conn: AsyncConnection
    writes: Writes = field(default_factory=Writes)

    def __post_init__(self) -> None:
        self.writes = of_connection(self.conn, self.writes)  # any other statement sends them first

    @property
    def outbox(self):
        from mailintake_common.outbox import Outbox

        return Outbox(self.conn, self.writes)

    @property
    def documents(self):
        from mailintake_common.documents import DocumentRepository

        return DocumentRepository(self.conn, self.writes)

    @property
    def blobs(self):
        from mailintake_common.blobs import blob_store

        return blob_store(self.conn, writes=self.writes)

    async def flush(self) -> None:
        """Send the deferred writes (in the unit's transaction; a failure fails the unit)."""
        await self.writes.flush(self.conn)


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[UnitOfWork]:
    """One transaction; its deferred writes are sent just before COMMIT.

    A unit whose every statement was deferred (a new submission without an idempotency key)
    is one autocommitted statement: no BEGIN or COMMIT round trips, and as atomic."""
    async with engine.connect() as conn:  # closing it rolls back what did not commit
        uow = UnitOfWork(conn)
        yield uow
        if conn.in_transaction():
            await uow.flush()
            await statements.commit(conn)  # on the driver connection (issue 18)
            return
        taken = uow.writes.take()  # nothing ran yet: no transaction to open for one statement
        if taken is None or await sent_alone(conn, taken):
            return
    await send_again(engine, taken)


async def sent_alone(conn: AsyncConnection, taken: Taken) -> bool:
    """Send a unit's writes as its one statement, alone (autocommitted); False when the pooled
    connection was dead (nothing was written: `send_again` on a fresh one)."""
    try:
        await send(conn, taken, alone=True)
    except DBAPIError as exc:
        if not is_dead_connection(exc):
            raise
        return False
    return True


async def send_again(engine: AsyncEngine, taken: Taken) -> None:
    """A unit's one statement again, once, on a fresh connection (`sent_alone` met a dead one)."""
    async with engine.connect() as conn:
        await send(conn, taken, alone=True)
