"""Gauges read from PostgreSQL, refreshed by a periodic task so `/metrics` costs nothing (issue 16).

A scrape only renders what is in memory. Every `MAILINTAKE_METRICS_REFRESH_INTERVAL_S` this task
runs a few bounded queries, each on an index: the oldest unpublished outbox row (one row off
the relay's partial index), unpublished rows and documents per status (counted up to
`MAILINTAKE_METRICS_COUNT_CAP`, on `ix_outbox_unpublished` and `ix_documents_status_updated`),
and the events each consumer group dead-lettered and has not applied since (the partial index
on dead-lettered markers, `ix_processed_events_dead_lettered`).

Every process reports the same database-wide values: aggregate them with `max`, not `sum`.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import observability as obs
from mailintake_common.documents import STATUS_ORDER
from mailintake_common.outbox import oldest_unpublished_age_s, unpublished_count
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents, processed_events

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


async def refresh_once(engine: AsyncEngine, cap: int) -> None:
    async with engine.connect() as conn:
        obs.OUTBOX_OLDEST_AGE.set(await oldest_unpublished_age_s(conn))
        for status in STATUS_ORDER:
            some = select(literal(1)).where(documents.c.status == status).limit(cap).subquery()
            count = (await conn.execute(select(func.count()).select_from(some))).scalar_one()
            obs.DOCUMENTS_BY_STATUS.labels(status).set(count)
        seen = await dead_letters_by_group(conn, cap)
    for group in set(seen) | _groups_reported:
        obs.DLQ_DEPTH.labels(group).set(seen.get(group, 0))
    _groups_reported.update(seen)
    obs.OUTBOX_BACKLOG.set(await unpublished_count(engine, cap))


_groups_reported: set[str] = set()


async def run_gauges(engine: AsyncEngine, settings: CommonSettings) -> None:
    """Refresh the database gauges forever; a failure is logged and tried again next time."""
    while True:
        try:
            await refresh_once(engine, settings.metrics_count_cap)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("metrics refresh failed", extra={"error": type(exc).__name__})
        await asyncio.sleep(settings.metrics_refresh_interval_s)
