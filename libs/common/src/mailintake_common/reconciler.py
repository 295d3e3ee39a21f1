"""Republish a stage's input when a document has not moved on in time.

The broker keeps data in memory: a restart can lose events the relay had already seen
acknowledged. PostgreSQL still has every event in the outbox, so a document that sits in a
status longer than `reconcile_stuck_after_s` gets the event that should have moved it on
published again, with its original event id (consumers that did apply it skip it).
One reconciler runs at a time, elected by an advisory lock like the relay; the same leader
runs records disposal (retention.py) when it is due.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import observability as obs
from mailintake_common.documents import DocumentRepository
from mailintake_common.events import TOPIC_CLASSIFIED, TOPIC_RECEIVED, TOPIC_SCREENED
from mailintake_common.outbox import OUTBOX_CHANNEL
from mailintake_common.retention import dispose_when_due
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents, outbox

log = logging.getLogger(__name__)

RECONCILER_LOCK_ID = 0x6D61696C02
# status -> the topic whose event moves a document out of that status
NEXT_INPUT = {"received": TOPIC_RECEIVED, "screened": TOPIC_SCREENED, "classified": TOPIC_CLASSIFIED}


async def reconcile_once(engine: AsyncEngine, stuck_after_s: float, max_attempts: int = 10, limit: int = 500) -> int:
    """Republish inputs for stuck documents; returns how many were republished."""
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, stuck_after_s)
    republished = 0
    async with engine.begin() as conn:
        stuck = (
            await conn.execute(
                select(documents.c.document_id, documents.c.status, documents.c.reconcile_count)
                .where(
                    documents.c.reconcile_count <= max_attempts,
                    documents.c.status.in_(list(NEXT_INPUT)),
                    documents.c.updated_at < cutoff,
                    or_(documents.c.reconciled_at.is_(None), documents.c.reconciled_at < cutoff),
                )
                .order_by(documents.c.updated_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        repo = DocumentRepository(conn)
        for doc in stuck:
            topic = NEXT_INPUT[doc.status]
            last = (
                (
                    await conn.execute(
                        select(outbox)
                        .where(and_(outbox.c.document_id == doc.document_id, outbox.c.topic == topic))
                        .order_by(outbox.c.id.desc())
                        .limit(1)
                    )
                )
                .mappings()
                .first()
            )
            unpublished = last is None or last["published_at"] is None  # the relay still has it
            attempts = doc.reconcile_count + (0 if unpublished else 1)
            await conn.execute(
                update(documents)
                .where(documents.c.document_id == doc.document_id)
                .values(reconciled_at=func.now(), reconcile_count=attempts)
            )
            if last is None or unpublished:
                continue
            if attempts > max_attempts:
                reason = f"still '{doc.status}' after {max_attempts} republications; needs a person"
                await repo.add_timeline(doc.document_id, "reconciler", "gave_up", [reason])
                obs.RECONCILER_GAVE_UP.inc()
                continue
            await conn.execute(
                outbox.insert().values(
                    event_id=last["event_id"],
                    event_type=last["event_type"],
                    document_id=last["document_id"],
                    topic=last["topic"],
                    key=last["key"],
                    value=last["value"],
                    headers=last["headers"],
                )
            )
            await repo.add_timeline(
                doc.document_id, "reconciler", "republished", [f"no progress past '{doc.status}' in time"]
            )
            obs.RECONCILED.labels(doc.status).inc()
            republished += 1
        if republished:  # wake the relay (LISTEN) instead of leaving the rows to its fallback poll
            await conn.execute(select(func.pg_notify(OUTBOX_CHANNEL, "")))
    if republished:
        log.info("reconciler republished stage inputs", extra={"count": republished})
    return republished


async def run_reconciler(engine: AsyncEngine, settings: CommonSettings) -> None:
    while True:
        try:
            async with engine.connect() as lock_conn:
                got = (
                    await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RECONCILER_LOCK_ID})
                ).scalar()
                await lock_conn.commit()
                disposal_due = 0.0
                while got:
                    await reconcile_once(engine, settings.reconcile_stuck_after_s, settings.reconcile_max_attempts)
                    disposal_due = await dispose_when_due(engine, settings, disposal_due)
                    await asyncio.sleep(settings.reconcile_interval_s)
                    await lock_conn.execute(text("SELECT 1"))
                    await lock_conn.commit()
            await asyncio.sleep(settings.reconcile_interval_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("reconciler paused", extra={"error": type(exc).__name__})
            await asyncio.sleep(2.0)
