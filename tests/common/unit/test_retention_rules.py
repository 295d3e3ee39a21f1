"""Records disposal: what may go and when (issue 16; retention_rules.py).

The seeds keep originals within reach: officers forward original correspondence on a document
retrieval request (seed 001 line 50) and review the original of an unclear image (seed 001
line 126). So nothing is disposed of unless a period is set, and never a document still in work.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailintake_common.retention_rules import Owner, RetentionPolicy, blob_disposable, document_disposable

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)
OLD = NOW - timedelta(days=45)


def test_only_a_routed_document_past_the_period_with_nothing_open_may_go() -> None:
    """seed 001 line 50: a document still in work may yet be asked for; only finished ones go."""
    assert document_disposable(Owner("a", "routed", OLD), CUTOFF)
    assert not document_disposable(Owner("a", "routed", NOW - timedelta(days=2)), CUTOFF)
    for status in ("received", "screened", "classified", "failed"):
        assert not document_disposable(Owner("a", status, OLD), CUTOFF)
    assert not document_disposable(Owner("a", "routed", OLD, ("open queue item",)), CUTOFF)


def test_a_shared_blob_goes_only_when_every_document_naming_it_may_go() -> None:
    """seed 001 line 126: an original another document still needs stays."""
    done, busy = Owner("a", "routed", OLD), Owner("b", "classified", OLD)
    assert blob_disposable([done, Owner("c", "routed", OLD)], CUTOFF)
    assert not blob_disposable([done, busy], CUTOFF)
    assert not blob_disposable([], CUTOFF)  # nobody known to own it: kept


def test_every_kind_is_kept_when_its_period_is_zero() -> None:
    """Choice (seeds silent on periods): content and completed items are kept unless a period is set."""
    off = RetentionPolicy(routed_content_days=0, processed_events_days=0, completed_items_days=0, batch_size=10)
    assert not off.enabled
    assert RetentionPolicy.cutoff(NOW, 0) is None
    assert RetentionPolicy.cutoff(NOW, 30) == CUTOFF
    assert RetentionPolicy(0, 30, 0, 10).enabled
