"""Whether a held item may be released (seed 001: large emails are adjusted, then released;
encrypted, media and harmful items are never released). Pure: the command reads the hold and
acts on the answer."""

from __future__ import annotations

from dataclasses import dataclass

from mailintake_common.domain_errors import Conflict, NotFound
from mailintake_common.events import HoldReason, Verdict


@dataclass(frozen=True)
class Hold:
    verdict: Verdict
    reasons: tuple[HoldReason, ...]
    released: bool
    visible: bool  # the caller's RACS level reaches the item's


def releasable(verdict: Verdict) -> bool:
    """Only what was held for size alone may be released (seed 001 line 64: never the rest)."""
    return verdict == "manual_adjustment"


def refuse_release(hold: Hold | None) -> None:
    """Raise why the item may not be released; return when it may."""
    if hold is None or not hold.visible:
        raise NotFound("not_found", "no such held item")
    if not releasable(hold.verdict):
        held_for = ", ".join(r for r in hold.reasons if r != "size") or "harmful content"
        raise Conflict("not_releasable", f"held for {held_for}: quarantined items are never released")
    if hold.released:
        raise Conflict("already_released", "this item was already released")
