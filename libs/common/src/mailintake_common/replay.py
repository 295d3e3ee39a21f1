"""Replays of dead-lettered events: telling a replay from a redelivery (issue 16).

A consumer marks an event it dead-lettered in `processed_events` (`dead_lettered`), so a
redelivery of that record, or a copy published before it gave up (a relay resend, a
reconciler republication), is skipped like any duplicate. A replay is a copy somebody sent
back on purpose after the event was dead-lettered: it carries the `replay_of` header
(`mailintake dlq replay`, `POST /v1/documents/{id}/retry`), or it was published after the
dead letter was written (an operator who copied the DLQ record's value to its topic by hand).
A replay may claim the marker once; after that the event is applied and every further copy,
replay or not, is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import CTE, Boolean, String, bindparam, delete, exists, func, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common import statements
from mailintake_common.statements import Statement
from mailintake_common.tables import consumer_attempts, processed_events
from mailintake_common.writes import Gate

REPLAY_HEADER = "replay_of"
Seen = Literal["new", "duplicate", "replay"]


@dataclass(frozen=True)
class Marker:
    dead_lettered: bool
    at: datetime


def seen_before(marker: Marker | None, headers: dict[str, str], published_ms: int | None) -> Seen:
    """What a record carrying an event id this consumer has a `marker` for is: pure."""
    if marker is None:
        return "new"
    if not marker.dead_lettered:
        return "duplicate"
    if headers.get(REPLAY_HEADER):
        return "replay"
    if published_ms is not None and published_ms > marker.at.timestamp() * 1000:
        return "replay"
    return "duplicate"


async def marker_of(conn: AsyncConnection, consumer: str, event_id: str) -> Marker | None:
    row = (
        await conn.execute(
            select(processed_events.c.dead_lettered, processed_events.c.processed_at).where(
                processed_events.c.consumer == consumer, processed_events.c.event_id == event_id
            )
        )
    ).first()
    return Marker(row.dead_lettered, row.processed_at) if row else None


async def claim(
    conn: AsyncConnection, consumer: str, event_id: str, *, replay: bool, dead_letter: bool, forget: bool = False
) -> bool:
    """Claim an event id for applying (or for dead-lettering) in the caller's transaction.

    A new id is always claimed. A replay also claims an id that is only marked dead-lettered
    (once: the claim turns the marker into what happened now). Returns whether it was claimed.
    `forget`: a claimed id's count of tries (`attempts.py`) goes in the same statement.
    """
    statement = _claim_statement(replay, forget)
    params = claim_params(consumer, event_id, dead_letter=dead_letter)
    return bool(await statements.run(conn, statement, params))


@cache
def _claim_statement(replay: bool, forget: bool) -> Statement[Any]:
    """Built once per shape (issue 18): building these costs more CPU than running them, and
    SQLAlchemy's execution as much again (run on the driver connection: statements.py)."""
    if not forget:
        return Statement(_claim(replay).returning(processed_events.c.event_id))
    claimed, forgotten = _claim_and_forget(replay)
    return Statement(select(claimed.c.event_id).add_cte(forgotten))


def claim_params(consumer: str, event_id: str, *, dead_letter: bool = False) -> dict[str, Any]:
    return {"consumer": consumer, "event_id": event_id, "dead_letter": dead_letter}


@cache
def claim_gate(replay: bool) -> Gate:
    """The claim that forgets the count of tries, as the gate of a unit's write statement
    (`writes.Gate`): the unit's writes happen only if the event id was claimed (issue 18)."""
    return Gate(f"claim{int(replay)}", lambda: _claim_and_forget(replay), answers="event_id")


def _claim_and_forget(replay: bool) -> tuple[CTE, CTE]:
    """The claim (a row when claimed) and the deletion of the claimed id's count of tries."""
    consumer, event_id = bindparam("consumer", type_=String), bindparam("event_id", type_=String)
    claimed = _claim(replay).returning(processed_events.c.event_id).cte("claimed")
    forgotten = (
        delete(consumer_attempts)
        .where(
            consumer_attempts.c.consumer == consumer,
            consumer_attempts.c.event_id == event_id,
            exists(select(claimed.c.event_id)),
        )
        .returning(consumer_attempts.c.event_id)
        .cte("forgotten")
    )
    return claimed, forgotten


def _claim(replay: bool) -> Insert:
    consumer, event_id = bindparam("consumer", type_=String), bindparam("event_id", type_=String)
    dead_letter = bindparam("dead_letter", type_=Boolean)
    stmt = insert(processed_events).values(
        consumer=consumer, event_id=event_id, dead_lettered=dead_letter, processed_at=func.clock_timestamp()
    )
    if replay:
        return stmt.on_conflict_do_update(
            index_elements=["consumer", "event_id"],
            set_={"dead_lettered": dead_letter, "processed_at": func.clock_timestamp()},
            where=processed_events.c.dead_lettered,
        )
    return stmt.on_conflict_do_nothing()
