"""The database engine and the unit of work: one transaction for state and its events.

A handler or route opens `unit_of_work(engine)`, changes state through the repositories
it offers, adds events to its outbox, and everything commits together or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from mailintake_common.settings import CommonSettings

SETTINGS_OPTION = "mailintake_settings"  # a connection's execution option: the settings it was made with


def make_engine(settings: CommonSettings) -> AsyncEngine:
    """The engine for `settings`; its connections carry them, so `uow.blobs` is the store they choose."""
    return create_async_engine(
        settings.database_url,
        execution_options={SETTINGS_OPTION: settings},
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args={"timeout": settings.db_connect_timeout_s},
    )


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
    """What a handler may touch inside its transaction."""

    conn: AsyncConnection

    @property
    def outbox(self):
        from mailintake_common.outbox import Outbox

        return Outbox(self.conn)

    @property
    def documents(self):
        from mailintake_common.documents import DocumentRepository

        return DocumentRepository(self.conn)

    @property
    def blobs(self):
        from mailintake_common.blobs import blob_store

        return blob_store(self.conn)


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[UnitOfWork]:
    async with engine.begin() as conn:
        yield UnitOfWork(conn)
