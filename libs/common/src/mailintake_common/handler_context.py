"""What a handler is given with its event: its unit of work, which claims the event id.

The claim makes a consumer group apply an event at most once: it is made in the handler's own
transaction, so a duplicate that races past the runner's early check changes nothing
(consumer.py). Split from consumer.py to keep both short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import group_commit
from mailintake_common.db import UnitOfWork, first_statement, send_again
from mailintake_common.events import Envelope
from mailintake_common.replay import claim, claim_gate, claim_params
from mailintake_common.statements import commit

P = TypeVar("P", bound=BaseModel)
D = TypeVar("D", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
READS_DETAILS = "mailintake_reads_details"
READS_BLOBS = "mailintake_reads_blobs"


def reads_details(kind: type[BaseModel]) -> Callable[[F], F]:
    """Declares the details (details.py) a handler reads: its subscription fetches them with its
    batch's check-in (consumer.py), and the handler finds them with `ctx.details_of(kind)`."""

    def declare(handler: F) -> F:
        setattr(handler, READS_DETAILS, kind)
        return handler

    return declare


def reads_blobs(handler: F) -> F:
    """Declares that a handler reads the blobs its event names (quarantine, the classifier): its
    subscription reads the small ones kept in PostgreSQL with its batch's check-in (consumer.py,
    `MAILINTAKE_CONSUMER_PREFETCH_BLOB_BYTES`), and the blob store's `get` answers them then."""
    setattr(handler, READS_BLOBS, True)
    return handler


class AlreadyProcessed(Exception):
    """The event id was applied before by this consumer group."""


@dataclass
class HandlerContext(Generic[P]):
    engine: AsyncEngine
    consumer: str
    event: Envelope[P]
    trace_id: str
    replay: bool = False  # a replay of an event this consumer dead-lettered (replay.py)
    details: BaseModel | None = None  # the stage's details, fetched with its batch's check-in

    def details_of(self, kind: type[D]) -> D | None:
        """The document's details of `kind` as fetched with the check-in, or None (not fetched,
        none stored, or a retry): then the handler reads them itself (issue 18)."""
        return self.details if isinstance(self.details, kind) else None

    @asynccontextmanager
    async def unit_of_work(self, *, claim_with_writes: bool = False) -> AsyncIterator[UnitOfWork]:
        """The handler's transaction; it claims the event id, or raises AlreadyProcessed.

        By default the claim is its first statement. `claim_with_writes` (issue 18), for a unit
        that only writes: the claim goes in the unit's one write statement, whose writes happen
        only if it claimed the id (`writes.Gate`), so the unit is one autocommitted statement,
        run again once on a fresh connection when the pooled one was dead; units that become
        ready while one of the same shape is in flight go together (`group_commit.py`). Should the unit run
        another statement first (a large blob, an object store's lock), the claim goes just
        before it, in the transaction that statement begins, and is checked there."""
        if not claim_with_writes:
            async with first_statement(self.engine, self._claim) as (conn, claimed):
                if not claimed:
                    raise AlreadyProcessed(self.event.event_id)
                uow = UnitOfWork(conn)
                yield uow
                await uow.flush()  # the deferred writes, one statement, before COMMIT (issue 18)
            return
        async with self.engine.connect() as conn:  # closing it rolls back what did not commit
            uow = UnitOfWork(conn)
            params = claim_params(self.consumer, self.event.event_id)
            uow.writes.gate(claim_gate(self.replay), params, lambda: AlreadyProcessed(self.event.event_id))
            yield uow
            if conn.in_transaction():  # a statement of the unit's own sent the claim first
                await uow.flush()
                await commit(conn)  # on the driver connection (statements.py)
                return
            taken = uow.writes.take()
            assert taken is not None  # the claim at least
            if await group_commit.sent(self.engine, conn, taken):  # with units ready at once (issue 18)
                return
        await send_again(self.engine, taken)  # the pooled connection was dead: nothing was written

    async def _claim(self, conn: AsyncConnection) -> bool:
        # claims the id and forgets the count of tries in one statement (issue 18)
        return await claim(conn, self.consumer, self.event.event_id, replay=self.replay, dead_letter=False, forget=True)
