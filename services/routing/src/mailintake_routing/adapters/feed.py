"""The queue feed in PostgreSQL: events routing published to `mail.queue.<queue>`, read from the
outbox (kept `MAILINTAKE_OUTBOX_RETENTION_HOURS` after publication), filtered by RACS level.

Positions are `(published_at, outbox id)`. The relay is one process at a time (advisory lock)
and stamps each batch in its own transaction, begun after the previous batch committed, so a
row that commits later always has a later position: polling "after the last position seen"
misses nothing. A position is only ever taken from committed rows, never from the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.documents import document_racs_level
from mailintake_common.tables import documents, outbox

Position = tuple[datetime, int]
# Before anything was published: "after the beginning" is every event.
BEGINNING: Position = (datetime(2000, 1, 1, tzinfo=UTC), 0)


async def queue_events(
    conn: AsyncConnection,
    topic: str,
    max_racs: int,
    limit: int,
    *,
    before: Position | None = None,
    after: Position | None = None,
) -> list[dict[str, Any]]:
    """Up to `limit` published events of `topic` whose document the reader may see: newest first,
    older than `before` if given; or, with `after`, those published after it, oldest first."""
    position = tuple_(outbox.c.published_at, outbox.c.id)
    query = (
        select(outbox.c.id, outbox.c.value, outbox.c.published_at)
        .join(documents, documents.c.document_id == outbox.c.document_id)
        .where(outbox.c.topic == topic, outbox.c.published_at.is_not(None), document_racs_level() <= max_racs)
        .limit(limit)
    )
    if after is not None:
        query = query.where(position > tuple_(*after)).order_by(outbox.c.published_at, outbox.c.id)
    else:
        query = query.order_by(outbox.c.published_at.desc(), outbox.c.id.desc())
        if before is not None:
            query = query.where(position < tuple_(*before))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def last_published(conn: AsyncConnection) -> Position:
    """The newest published position of any topic: where a follower of an empty feed starts, so
    that it sees only what comes next and learns nothing of what it may not see."""
    row = (
        await conn.execute(
            select(outbox.c.published_at, outbox.c.id)
            .where(outbox.c.published_at.is_not(None))
            .order_by(outbox.c.published_at.desc(), outbox.c.id.desc())
            .limit(1)
        )
    ).first()
    return (row.published_at, row.id) if row else BEGINNING
