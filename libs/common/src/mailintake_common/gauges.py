"""Gauges read from PostgreSQL, refreshed by a periodic task so `/metrics` costs nothing (issue 16).

A scrape only renders what is in memory. Every `MAILINTAKE_METRICS_REFRESH_INTERVAL_S` this task
runs two bounded statements (one connection, no transaction), each part on an index: the oldest
unpublished outbox row (one row off the relay's partial index), unpublished rows and documents
per status (counted up to `MAILINTAKE_METRICS_COUNT_CAP`, on `ix_outbox_unpublished` and
`ix_documents_status_updated`), and the events each consumer group dead-lettered and has not
applied since (the partial index on dead-lettered markers, `ix_processed_events_dead_lettered`).
A status whose count reached the cap is counted again only every
`MAILINTAKE_METRICS_CAPPED_RECOUNT_INTERVAL_S` (issue 18, session 10): on a database in service
`routed` is always at the cap, and counting 100,000 index entries in every process every refresh
cost PostgreSQL 20-50 ms a time to report the same figure.

Every process reports the same database-wide values: aggregate them with `max`, not `sum`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import observability as obs
from mailintake_common.db import reading
from mailintake_common.documents import STATUS_ORDER
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents, outbox, processed_events

log = logging.getLogger(__name__)


async def dead_letters_by_group(conn: AsyncConnection, cap: int | None = None) -> dict[str, int]:
    """Dead-lettered events not processed since, per consumer group (a replay clears one).

    The one definition of DLQ depth: the metric and the dashboard both use it. It reads the
    partial index on dead-lettered markers; `cap` bounds each scrape's work.
    """
    dead = select(processed_events.c.consumer).where(processed_events.c.dead_lettered)
    if cap is not None:
        dead = dead.limit(cap)
    marked = dead.subquery()
    rows = await conn.execute(select(marked.c.consumer, func.count()).group_by(marked.c.consumer))
    return {str(group): int(count) for group, count in rows}


@functools.lru_cache(maxsize=64)
def _database_gauges(cap: int, kept: frozenset[str] = frozenset()) -> Select[Any]:
    """One statement for the outbox and status gauges, built once (issue 18: every process runs
    it every interval, and building a statement costs more CPU than running it): the oldest
    unpublished row's age, then unpublished rows and documents per status, each counted up to
    `cap`; a status in `kept` is not counted (NULL: its gauge keeps the figure it has)."""

    def capped_count(rows: Select[Any]) -> Any:
        return select(func.count()).select_from(rows.limit(cap).subquery()).scalar_subquery()

    unpublished = outbox.c.published_at.is_(None)
    oldest = select(outbox.c.created_at).where(unpublished).order_by(outbox.c.id).limit(1).scalar_subquery()
    return select(
        func.coalesce(func.extract("epoch", func.now() - oldest), 0),
        capped_count(select(outbox.c.id).where(unpublished)),
        *(
            literal(None) if status in kept else capped_count(select(literal(1)).where(documents.c.status == status))
            for status in STATUS_ORDER
        ),
    )


_at_cap_since: dict[str, float] = {}  # status -> when its count was last found at the cap (monotonic)


async def refresh_once(engine: AsyncEngine, cap: int, capped_recount_interval_s: float = 0.0) -> None:
    """Refresh the gauges; a status found at the cap less than `capped_recount_interval_s` ago
    keeps its figure (it can only fall below the cap when documents are deleted: retention)."""
    now = time.monotonic()
    kept = frozenset(s for s, at in _at_cap_since.items() if now - at < capped_recount_interval_s)
    async with reading(engine) as conn:  # two statements, no transaction around them
        age, backlog, *by_status = (await conn.execute(_database_gauges(cap, kept))).one()
        seen = await dead_letters_by_group(conn, cap)
    obs.OUTBOX_OLDEST_AGE.set(float(age))
    obs.OUTBOX_BACKLOG.set(int(backlog))
    for status, count in zip(STATUS_ORDER, by_status, strict=True):
        if count is None:  # at the cap when last counted
            continue
        obs.DOCUMENTS_BY_STATUS.labels(status).set(int(count))
        if count >= cap:
            _at_cap_since[status] = now
        else:
            _at_cap_since.pop(status, None)
    for group in set(seen) | _groups_reported:
        obs.DLQ_DEPTH.labels(group).set(seen.get(group, 0))
    _groups_reported.update(seen)


_groups_reported: set[str] = set()


async def run_gauges(engine: AsyncEngine, settings: CommonSettings) -> None:
    """Refresh the database gauges forever; a failure is logged and tried again next time."""
    while True:
        try:
            await refresh_once(engine, settings.metrics_count_cap, settings.metrics_capped_recount_interval_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("metrics refresh failed", extra={"error": type(exc).__name__})
        await asyncio.sleep(settings.metrics_refresh_interval_s)
