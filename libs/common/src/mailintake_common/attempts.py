"""A consumer group's tries at one event, counted in PostgreSQL (issue 15).

Counting in memory forgets on restart: a message that kills a worker, or the whole service,
would be tried again forever. Here every try is counted before the handler runs and every
failure after it, so the count survives restarts and `give_up` can end a crash loop. The row
goes when the event is applied (in the same transaction) and stays, with the reason, when it
is dead-lettered. Errors are stored as a class name plus, for a lost worker, its fixed
description: never content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    func,
    literal,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import ReturningInsert

from mailintake_common.db import alone, autocommit
from mailintake_common.replay import Marker
from mailintake_common.statements import Record, Statement, unfolded_array
from mailintake_common.tables import consumer_attempts as table
from mailintake_common.tables import processed_events


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


def _counting(new: Insert) -> ReturningInsert[tuple[int, int, str | None]]:
    """`new` (one row, attempts=1) or, for a counted event, one more try on its row."""
    return new.on_conflict_do_update(
        index_elements=[table.c.consumer, table.c.event_id],
        set_={"attempts": table.c.attempts + 1, "updated_at": func.now()},
    ).returning(table.c.attempts, table.c.worker_failures, table.c.last_error)


def _tally(row: Record) -> Tally:
    return Tally(row["attempts"], row["worker_failures"], row["last_error"])


_CONSUMER, _EVENT_ID = bindparam("consumer", type_=String), bindparam("event_id", type_=String)
_DOCUMENT_ID = bindparam("document_id", type_=String)
# Built once (issue 18): building a statement costs more CPU than running it, and SQLAlchemy's
# execution as much again (statements.py runs them on the driver connection).
_BEGIN = Statement(
    _counting(insert(table).values(consumer=_CONSUMER, event_id=_EVENT_ID, document_id=_DOCUMENT_ID, attempts=1)),
    _tally,
)


async def begin(engine: AsyncEngine, consumer: str, event_id: str, document_id: str | None) -> Tally:
    """Count one more try at the event (before it runs) and return the count so far."""
    params = {"consumer": consumer, "event_id": event_id, "document_id": document_id}
    return (await alone(engine, _BEGIN, params))[0]


def _check_in_statement() -> Select[Any]:
    marker = (
        select(processed_events.c.dead_lettered, processed_events.c.processed_at)
        .where(processed_events.c.consumer == _CONSUMER, processed_events.c.event_id == _EVENT_ID)
        .cte("marker")
    )
    unmarked = select(_CONSUMER, _EVENT_ID, _DOCUMENT_ID, literal(1)).where(~exists(select(marker.c.dead_lettered)))
    counted = _counting(
        insert(table).from_select([table.c.consumer, table.c.event_id, table.c.document_id, table.c.attempts], unmarked)
    ).cte("counted")
    one = select(literal(1).label("one")).subquery()
    return select(
        marker.c.dead_lettered,
        marker.c.processed_at,
        counted.c.attempts,
        counted.c.worker_failures,
        counted.c.last_error,
    ).select_from(one.outerjoin(marker, true()).outerjoin(counted, true()))


def _marker(row: Record) -> Marker | None:
    return Marker(row["dead_lettered"], row["processed_at"]) if row["processed_at"] is not None else None


def _found(row: Record) -> tuple[Marker | None, Tally | None]:
    return _marker(row), _tally(row) if row["attempts"] is not None else None


_CHECK_IN = Statement(_check_in_statement(), _found)


async def check_in(
    engine: AsyncEngine, consumer: str, event_id: str, document_id: str | None
) -> tuple[Marker | None, Tally | None]:
    """The group's marker for the event and, only when it has none, one more try counted (issue 18).

    One statement, one round trip: the common case (a new event, or a retry of one) needs no
    more. A marked event is not counted here: it is a duplicate, or a replay that the caller
    counts afresh (`replay.seen_before`, `forget`, `begin`).
    """
    params = {"consumer": consumer, "event_id": event_id, "document_id": document_id}
    return (await alone(engine, _CHECK_IN, params))[0]


@dataclass(frozen=True)
class Early:
    """One event's check-in made with its partition's batch (`check_in_batch`): its marker, its
    try counted (None when it has a marker, or a count from before: then it checks in on its
    own, `check_in`), its stage's details as stored (None when not asked for, or none), and
    the blobs' content read with the batch (`blobs.prefetched`), by sha256."""

    marker: Marker | None
    tally: Tally | None
    details: Any = None
    blobs: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        """Whether the batch's check-in stands for the event's own (else it checks in alone)."""
        return self.marker is not None or self.tally is not None


# Each array is read through a sub-select (`(SELECT CAST(:ids AS text[]))`), which PostgreSQL
# does not fold into the plan (issue 18, session 11): planned for the values at hand, it counted
# the batch's events and blobs, so on tables of a real size every plan made for a batch of one
# or two looked cheaper than the kept plan (costed for ten) and the statement was planned again
# on every call, at about twice its execution. Now each plan is costed for ten, as the
# kept one is, and the kept plan serves after the first five calls on a connection.
_BATCH = """
WITH batch AS (
    SELECT b.event_id, b.document_id, b.n
    FROM unnest((SELECT CAST(:event_ids AS text[])), (SELECT CAST(:document_ids AS text[])))
        WITH ORDINALITY AS b(event_id, document_id, n)
), marker AS (
    SELECT p.event_id, p.dead_lettered, p.processed_at
    FROM processed_events AS p JOIN batch AS b ON p.event_id = b.event_id
    WHERE p.consumer = :consumer
), counted AS (
    INSERT INTO consumer_attempts (consumer, event_id, document_id, attempts)
    SELECT :consumer, b.event_id, b.document_id, 1 FROM batch AS b
    WHERE NOT EXISTS (SELECT 1 FROM marker AS m WHERE m.event_id = b.event_id)
    ORDER BY b.n
    ON CONFLICT (consumer, event_id) DO NOTHING
    RETURNING event_id, attempts, worker_failures, last_error
)
SELECT b.n, m.dead_lettered, m.processed_at, c.attempts, c.worker_failures, c.last_error,
    {details} AS details{no_blob}
FROM batch AS b
LEFT JOIN marker AS m ON m.event_id = b.event_id
LEFT JOIN counted AS c ON c.event_id = b.event_id
{join}{blobs}
ORDER BY n
"""
# The blobs a batch reads with its check-in (issue 18): content kept in PostgreSQL, each at most
# :blob_bytes (a scan's or an archive's size has no bound: those are streamed as before).
_BLOBS = f"""
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, bl.sha256, bl.content
FROM blobs AS bl
WHERE bl.sha256 = ANY({unfolded_array("shas", "text")}) AND bl.content IS NOT NULL
    AND octet_length(bl.content) <= :blob_bytes"""


@cache
def _batch_statement(details_table: str | None, with_blobs: bool) -> Statement[Record]:
    """Built once per details table: the same text for any batch size, so asyncpg's prepared
    statement is reused (the events go in as two arrays, the blobs as a third)."""
    join = f"LEFT JOIN {details_table} AS d ON d.document_id = b.document_id" if details_table else ""
    sql = _BATCH.format(
        details="d.details" if details_table else "CAST(NULL AS jsonb)",
        join=join,
        no_blob=", CAST(NULL AS text) AS sha256, CAST(NULL AS bytea) AS content" if with_blobs else "",
        blobs=_BLOBS if with_blobs else "",
    )
    types: list[BindParameter[Any]] = [
        bindparam("consumer", type_=String),
        # text[], not varchar[]: asyncpg knows it, so no type look-up on a connection's first use
        bindparam("event_ids", type_=ARRAY(Text)),
        bindparam("document_ids", type_=ARRAY(Text)),
    ]
    if with_blobs:
        types += [bindparam("shas", type_=ARRAY(Text)), bindparam("blob_bytes", type_=BigInteger)]
    return Statement(text(sql).bindparams(*types))


async def check_in_batch(
    engine: AsyncEngine,
    consumer: str,
    events: Sequence[tuple[str, str | None]],
    details_table: Table | None = None,
    blobs: Sequence[str] | None = None,
    blob_bytes: int = 0,
) -> list[Early]:
    """Check in a partition's batch of events, (event id, document id) each, in one statement
    (issue 18): each event's marker and, for an event with neither a marker nor a count from
    before, its first try counted; with `details_table`, each document's details row too; with
    `blobs` (sha256s), those blobs' content kept in PostgreSQL up to `blob_bytes` each, given to
    every event of the batch (`Early.blobs`).

    An event with a count from before (a try that never finished: the service died, or the try
    was counted by a batch whose process died before it started) is not counted here: it checks
    in on its own when it starts, so a crash loop counts only the tries that started, plus at
    most one for a batch neighbour that never ran. Event ids must be distinct."""
    if not events:
        return []
    params: dict[str, Any] = {
        "consumer": consumer,
        "event_ids": [event_id for event_id, _ in events],
        "document_ids": [document_id for _, document_id in events],
    }
    if blobs is not None:
        params |= {"shas": list(blobs), "blob_bytes": blob_bytes}
    statement = _batch_statement(details_table.name if details_table is not None else None, blobs is not None)
    rows = await alone(engine, statement, params)
    contents = {row["sha256"]: bytes(row["content"]) for row in rows[len(events) :]}
    return [
        Early(_marker(row), _tally(row) if row["attempts"] is not None else None, row["details"], contents)
        for row in rows[: len(events)]
    ]


_FAILED = Statement(
    insert(table)
    .values(
        consumer=_CONSUMER,
        event_id=_EVENT_ID,
        attempts=1,
        worker_failures=bindparam("lost", type_=Integer),
        last_error=bindparam("error", type_=String),
    )
    .on_conflict_do_update(
        index_elements=[table.c.consumer, table.c.event_id],
        set_={
            "worker_failures": table.c.worker_failures + bindparam("lost", type_=Integer),
            "last_error": bindparam("error", type_=String),
            "updated_at": func.now(),
        },
    )
    .returning(table.c.attempts, table.c.worker_failures, table.c.last_error),
    _tally,
)


async def failed(engine: AsyncEngine, consumer: str, event_id: str, error: str, worker_lost: bool) -> Tally:
    """Record why the try failed; a lost worker also counts toward the worker limit."""
    params = {"consumer": consumer, "event_id": event_id, "lost": int(worker_lost), "error": error}
    return (await alone(engine, _FAILED, params))[0]


async def not_counted(engine: AsyncEngine, consumer: str, event_id: str, error: str) -> None:
    """The try failed for an outage of shared storage, not for the event: take back its count."""
    statement = (
        update(table)
        .where(table.c.consumer == consumer, table.c.event_id == event_id)
        .values(attempts=func.greatest(table.c.attempts - 1, 0), last_error=error, updated_at=func.now())
    )
    await autocommit(engine, lambda conn: conn.execute(statement))


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
