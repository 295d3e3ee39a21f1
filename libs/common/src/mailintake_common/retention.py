"""Records disposal, run by the leader loop (reconciler.py) every `retention_interval_s`.

Three kinds, each bounded per run (`MAILINTAKE_RETENTION_BATCH_SIZE`) and each off unless its
period is set (retention_rules.py says what may go and why):

- the content of routed documents: blobs (raw items, cleared parts, text) through the blob
  store's `delete`, after the document's links (`document_blobs`) are removed; a blob another
  document still needs stays. The details the stages kept (`received_details`,
  `screening_details`, `classification_details`) go with it. Each document gets a timeline entry `retention / disposed`.
- processed-event ids (`processed_events`): the idempotency record of old events.
- completed queue items (routing's `queue_items`), with a timeline entry `retention / item_disposed`.

What keeps a document's content (an open queue item, an alert not closed, ...) lives in other
services' tables; each is read only when its table exists. Logs and metrics carry counts only.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common.blobs import BlobStore, blob_store
from mailintake_common.documents import DocumentRepository
from mailintake_common.retention_rules import Owner, RetentionPolicy, blob_disposable, document_disposable
from mailintake_common.settings import CommonSettings

log = logging.getLogger(__name__)

DISPOSED = Counter("mailintake_retention_disposed_total", "Records disposed of by retention", ["kind"])

# (table, condition on its row `k`, why it keeps the document's content)
KEEPERS = (
    ("queue_items", "k.completed_at IS NULL", "open queue item"),
    ("alerts", "k.status <> 'closed'", "alert not closed"),
    ("awaiting_identity", "TRUE", "awaiting identification"),
    ("quarantine_items", "k.released_at IS NULL AND k.verdict = 'manual_adjustment'", "held for adjustment"),
)


# What the stages read from the content and kept beside their events (details.py, issue 15).
DETAILS_TABLES = ("received_details", "screening_details", "classification_details")


def policy_of(settings: CommonSettings) -> RetentionPolicy:
    return RetentionPolicy(
        routed_content_days=settings.retention_routed_content_days,
        processed_events_days=settings.retention_processed_events_days,
        completed_items_days=settings.retention_completed_items_days,
        batch_size=settings.retention_batch_size,
    )


@dataclass
class Disposed:
    documents: int = 0
    blobs: int = 0
    blobs_kept: int = 0  # still named by a document that must keep them
    processed_events: int = 0
    queue_items: int = 0


async def _existing(conn: AsyncConnection, names: list[str]) -> set[str]:
    rows = await conn.execute(
        text("SELECT n FROM unnest(CAST(:names AS text[])) AS n WHERE to_regclass(n) IS NOT NULL"), {"names": names}
    )
    return {r.n for r in rows}


async def _keepers(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(SQL that is true when something keeps document `d`, why) for the tables that exist."""
    present = await _existing(conn, [table for table, _, _ in KEEPERS])
    return [
        (f"EXISTS (SELECT 1 FROM {table} k WHERE k.document_id = d.document_id AND {condition})", reason)
        for table, condition, reason in KEEPERS
        if table in present
    ]


async def _owners(conn: AsyncConnection, shas: list[str], keepers: list[tuple[str, str]]) -> dict[str, list[Owner]]:
    """Every document naming each blob, with what keeps it."""
    flags = "".join(f", {sql} AS keep_{i}" for i, (sql, _) in enumerate(keepers))
    rows = await conn.execute(
        text(
            "SELECT l.sha256, d.document_id, d.status, d.updated_at" + flags + " FROM document_blobs l"
            " JOIN documents d ON d.document_id = l.document_id WHERE l.sha256 = ANY(:shas)"
        ),
        {"shas": shas},
    )
    owners: dict[str, list[Owner]] = defaultdict(list)
    for row in rows.mappings():
        kept = tuple(reason for i, (_, reason) in enumerate(keepers) if row[f"keep_{i}"])
        owners[row["sha256"]].append(Owner(row["document_id"], row["status"], row["updated_at"], kept))
    return owners


async def dispose_content(engine: AsyncEngine, policy: RetentionPolicy, now: datetime, out: Disposed) -> None:
    """One batch of routed documents past retention: their links, then the blobs nobody else needs."""
    cutoff = policy.cutoff(now, policy.routed_content_days)
    if cutoff is None:
        return
    async with engine.begin() as conn:
        keepers = await _keepers(conn)
        kept = "".join(f" AND NOT {sql}" for sql, _ in keepers)
        candidates = [
            r.document_id
            for r in await conn.execute(
                text(
                    "SELECT d.document_id FROM documents d WHERE d.status = 'routed' AND d.updated_at < :cutoff"
                    " AND EXISTS (SELECT 1 FROM document_blobs l WHERE l.document_id = d.document_id)"
                    + kept
                    + " ORDER BY d.updated_at LIMIT :n FOR NO KEY UPDATE OF d SKIP LOCKED"
                ),
                {"cutoff": cutoff, "n": policy.batch_size},
            )
        ]
        if not candidates:
            return
        links = (
            await conn.execute(
                text("SELECT document_id, sha256 FROM document_blobs WHERE document_id = ANY(:ids)"),
                {"ids": candidates},
            )
        ).all()
        owners = await _owners(conn, sorted({sha for _, sha in links}), keepers)
        by_id = {o.document_id: o for named in owners.values() for o in named}
        going = [d for d in candidates if d in by_id and document_disposable(by_id[d], cutoff)]
        if not going:
            return
        await conn.execute(text("DELETE FROM document_blobs WHERE document_id = ANY(:ids)"), {"ids": going})
        for table in DETAILS_TABLES:  # the personal details the stages kept beside their events go too
            await conn.execute(text(f"DELETE FROM {table} WHERE document_id = ANY(:ids)"), {"ids": going})
        shas = sorted({sha for doc, sha in links if doc in going})
        store = blob_store(conn)
        deleted_of: dict[str, int] = defaultdict(int)
        for sha in shas:
            if not blob_disposable(owners[sha], cutoff) or not await _delete_blob(conn, store, sha):
                out.blobs_kept += 1
                continue
            out.blobs += 1
            for owner in owners[sha]:
                deleted_of[owner.document_id] += 1
        repo = DocumentRepository(conn)
        for document_id in going:
            named = sum(1 for doc, _ in links if doc == document_id)
            deleted = deleted_of[document_id]
            reasons = [
                f"content past retention ({policy.routed_content_days} days after routing): {deleted} blob(s) deleted"
            ]
            if named > deleted:
                reasons.append(f"{named - deleted} blob(s) kept: other documents with the same content still need them")
            await repo.add_timeline(document_id, "retention", "disposed", reasons)
        out.documents += len(going)


async def _delete_blob(conn: AsyncConnection, store: BlobStore, sha: str) -> bool:
    """Delete one blob unless a document was linked to it meanwhile (the foreign key refuses)."""
    try:
        async with conn.begin_nested():
            return await store.delete(sha)
    except IntegrityError:
        return False


async def dispose_processed_events(engine: AsyncEngine, policy: RetentionPolicy, now: datetime, out: Disposed) -> None:
    cutoff = policy.cutoff(now, policy.processed_events_days)
    if cutoff is None:
        return
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "DELETE FROM processed_events WHERE (consumer, event_id) IN (SELECT consumer, event_id"
                " FROM processed_events WHERE processed_at < :cutoff LIMIT :n FOR UPDATE SKIP LOCKED)"
            ),
            {"cutoff": cutoff, "n": policy.batch_size},
        )
        out.processed_events += result.rowcount


async def dispose_completed_items(engine: AsyncEngine, policy: RetentionPolicy, now: datetime, out: Disposed) -> None:
    cutoff = policy.cutoff(now, policy.completed_items_days)
    if cutoff is None:
        return
    async with engine.begin() as conn:
        if not await _existing(conn, ["queue_items"]):
            return
        removed = [
            r.document_id
            for r in await conn.execute(
                text(
                    "DELETE FROM queue_items WHERE document_id IN (SELECT document_id FROM queue_items"
                    " WHERE completed_at < :cutoff ORDER BY completed_at LIMIT :n FOR UPDATE SKIP LOCKED)"
                    " RETURNING document_id"
                ),
                {"cutoff": cutoff, "n": policy.batch_size},
            )
        ]
        repo = DocumentRepository(conn)
        for document_id in removed:
            reason = f"completed queue item removed {policy.completed_items_days} days after completion"
            await repo.add_timeline(document_id, "retention", "item_disposed", [reason])
        out.queue_items += len(removed)


async def dispose_once(engine: AsyncEngine, policy: RetentionPolicy, now: datetime | None = None) -> Disposed:
    """One bounded round of every kind whose retention is set; returns the counts."""
    now = now or datetime.now(UTC)
    out = Disposed()
    await dispose_completed_items(engine, policy, now, out)
    await dispose_content(engine, policy, now, out)
    await dispose_processed_events(engine, policy, now, out)
    for kind, count in (
        ("documents", out.documents),
        ("blobs", out.blobs),
        ("processed_events", out.processed_events),
        ("queue_items", out.queue_items),
    ):
        DISPOSED.labels(kind).inc(count)
        if count:  # counts only: never which document
            log.info("retention disposed of records", extra={"stage": "retention", "outcome": kind, "count": count})
    return out


async def dispose_when_due(engine: AsyncEngine, settings: CommonSettings, due_at: float) -> float:
    """Called by the leader loop each round: runs a disposal when one is due; returns the next due time."""
    policy = policy_of(settings)
    if not policy.enabled or time.monotonic() < due_at:
        return due_at
    try:
        await dispose_once(engine, policy)
    except Exception as exc:  # disposal waits for the next round; the reconciler goes on
        log.warning("retention paused", extra={"error": type(exc).__name__})
    return time.monotonic() + settings.retention_interval_s
