"""A consumer group's tries at one event, counted in PostgreSQL (issue 15).

Counting in memory forgets on restart: a message that kills a worker, or the whole service,
would be tried again forever. Here every try is counted before the handler runs and every
failure after it, so the count survives restarts and `give_up` can end a crash loop. The row
goes when the event is applied (in the same transaction) and stays, with the reason, when it
is dead-lettered. Errors are stored as a class name plus, for a lost worker, its fixed
description: never content.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common.tables import consumer_attempts as table


@dataclass(frozen=True)
class Tally:
    attempts: int  # tries started, this one included
    worker_failures: int  # tries that crashed or timed out a worker process
    last_error: str | None = None


def give_up(tally: Tally, *, max_attempts: int, max_worker_failures: int, finished: bool) -> str | None:
    """Why to stop trying (the dead letter's reason), or None to try again.

    `finished`: the try just failed (counted); otherwise a try is about to start, and a count
    already past the limit means earlier tries never finished (the process died mid-way).
    """
    workers = f", {tally.worker_failures} worker failure(s)" if tally.worker_failures else ""
    if finished:
        if tally.worker_failures >= max_worker_failures or tally.attempts >= max_attempts:
            return f"{tally.last_error or 'failed'} after {tally.attempts} attempt(s){workers}"
        return None
    if tally.worker_failures >= max_worker_failures or tally.attempts > max_attempts:
        last = tally.last_error or "no outcome (the service stopped while handling it)"
        return f"{last} after {tally.attempts - 1} attempt(s){workers}"
    return None


async def begin(engine: AsyncEngine, consumer: str, event_id: str, document_id: str | None) -> Tally:
    """Count one more try at the event (before it runs) and return the count so far."""
    new = insert(table).values(consumer=consumer, event_id=event_id, document_id=document_id, attempts=1)
    statement = new.on_conflict_do_update(
        index_elements=[table.c.consumer, table.c.event_id],
        set_={"attempts": table.c.attempts + 1, "updated_at": func.now()},
    ).returning(table.c.attempts, table.c.worker_failures, table.c.last_error)
    async with engine.begin() as conn:
        row = (await conn.execute(statement)).one()
    return Tally(row.attempts, row.worker_failures, row.last_error)


async def failed(engine: AsyncEngine, consumer: str, event_id: str, error: str, worker_lost: bool) -> Tally:
    """Record why the try failed; a lost worker also counts toward the worker limit."""
    new = insert(table).values(
        consumer=consumer, event_id=event_id, attempts=1, worker_failures=int(worker_lost), last_error=error
    )
    statement = new.on_conflict_do_update(
        index_elements=[table.c.consumer, table.c.event_id],
        set_={
            "worker_failures": table.c.worker_failures + int(worker_lost),
            "last_error": error,
            "updated_at": func.now(),
        },
    ).returning(table.c.attempts, table.c.worker_failures, table.c.last_error)
    async with engine.begin() as conn:
        row = (await conn.execute(statement)).one()
    return Tally(row.attempts, row.worker_failures, row.last_error)


async def not_counted(engine: AsyncEngine, consumer: str, event_id: str, error: str) -> None:
    """The try failed for an outage of shared storage, not for the event: take back its count."""
    statement = (
        update(table)
        .where(table.c.consumer == consumer, table.c.event_id == event_id)
        .values(attempts=func.greatest(table.c.attempts - 1, 0), last_error=error, updated_at=func.now())
    )
    async with engine.begin() as conn:
        await conn.execute(statement)


async def forget(conn: AsyncConnection, consumer: str, event_id: str) -> None:
    """The event was applied: its count is no longer needed (call inside the applying transaction)."""
    await conn.execute(delete(table).where(table.c.consumer == consumer, table.c.event_id == event_id))


async def read(engine: AsyncEngine, consumer: str, event_id: str) -> Tally | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(table.c.attempts, table.c.worker_failures, table.c.last_error).where(
                    table.c.consumer == consumer, table.c.event_id == event_id
                )
            )
        ).first()
    return Tally(row.attempts, row.worker_failures, row.last_error) if row else None
