"""Whether a held item may be released (seed 001: large emails are adjusted, then released;
encrypted, media and harmful items are never released). Pure: the command reads the hold and
acts on the answer."""

from __future__ import annotations

from dataclasses import dataclass

from mailintake_common.domain_errors import Conflict, NotFound


@dataclass(frozen=True)
class Hold:
    verdict: str
    reasons: tuple[str, ...]
    released: bool
    visible: bool  # the caller's RACS level reaches the item's


def refuse_release(hold: Hold | None) -> None:
    """Raise why the item may not be released; return when it may."""
    if hold is None or not hold.visible:
        raise NotFound("not_found", "no such held item")
    if hold.verdict != "manual_adjustment":
        held_for = ", ".join(r for r in hold.reasons if r != "size") or "harmful content"
        raise Conflict("not_releasable", f"held for {held_for}: quarantined items are never released")
    if hold.released:
        raise Conflict("already_released", "this item was already released")
