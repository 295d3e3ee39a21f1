"""Queue items as work (SPEC 3 "Work after routing"): an officer completes an item once.

Pure: what completing means and when it is refused. The outcome is the officer's word for what
was done ("attached", "actioned", ...): it goes on the timeline with who did it. The note may
hold personal details, so it stays on the item and the timeline only says one was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailintake_common.domain_errors import Conflict, Invalid


@dataclass(frozen=True)
class Completion:
    outcome: str
    note: str
    completed_by: str
    completed_at: datetime
    reasons: tuple[str, ...]


def complete_item(
    queue: str,
    completed_at: datetime | None,
    outcome: str,
    note: str,
    actor: str,
    now: datetime,
    note_max_chars: int,
) -> Completion:
    """Complete an open item, or refuse: 409 once completed, 422 without an outcome or with too long a note."""
    if completed_at is not None:
        raise Conflict("item_already_completed", "this item was completed already")
    outcome = " ".join(outcome.split())
    if not outcome:
        raise Invalid("outcome_required", "completing an item needs an outcome")
    if len(note) > note_max_chars:
        raise Invalid("note_too_long", f"note must be at most {note_max_chars} characters")
    reasons = [f"completed in {queue} by {actor}: {outcome}"]
    if note.strip():
        reasons.append("a note was recorded on the item")
    return Completion(outcome, note, actor, now, tuple(reasons))
