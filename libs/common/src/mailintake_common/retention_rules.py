"""Records disposal: what may be deleted, and when (issue 16). Pure rules; retention.py acts.

Everything is kept unless a retention period is set (`MAILINTAKE_RETENTION_*_DAYS`, 0 = keep):
how long the agency keeps correspondence is its records authority's decision, not a default
of ours. Processed-event ids are not records; they are kept 30 days by default, far longer
than any broker redelivery or reconciler republication, after which a duplicate cannot arrive.

A document's content (its raw items, cleared parts and text) may go only when the document is
routed (never received, screened, classified or failed: those may still be read or retried),
has not changed for the retention period, and nothing is still open on it: a queue item not
completed, an alert not closed, an item awaiting identification (routing reads it again when
the directory changes) or a manual-adjustment hold not released. A blob is stored once for
every document with the same content, so it goes only when every document naming it may go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

DISPOSABLE_STATUS = "routed"


@dataclass(frozen=True)
class RetentionPolicy:
    routed_content_days: int  # 0: kept
    processed_events_days: int  # 0: kept
    completed_items_days: int  # 0: kept
    batch_size: int  # most documents, event ids or items per kind per run

    @property
    def enabled(self) -> bool:
        return any(d > 0 for d in (self.routed_content_days, self.processed_events_days, self.completed_items_days))

    @staticmethod
    def cutoff(now: datetime, days: int) -> datetime | None:
        """Things older than this may go; None when that kind is kept."""
        return now - timedelta(days=days) if days > 0 else None


@dataclass(frozen=True)
class Owner:
    """A document that names a blob, as disposal sees it."""

    document_id: str
    status: str
    last_change: datetime
    kept_for: tuple[str, ...] = ()  # what is still open on it ("open queue item", ...)


def document_disposable(owner: Owner, cutoff: datetime) -> bool:
    """Its content may go: routed, unchanged since the cutoff, nothing open on it."""
    return owner.status == DISPOSABLE_STATUS and owner.last_change < cutoff and not owner.kept_for


def blob_disposable(owners: Iterable[Owner], cutoff: datetime) -> bool:
    """A shared blob goes only when every document naming it may go (a blob nobody owns stays)."""
    named_by = list(owners)
    return bool(named_by) and all(document_disposable(o, cutoff) for o in named_by)
