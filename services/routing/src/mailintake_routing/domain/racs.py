"""A customer's RACS level changed in the directory: the level their routed work should now have.

A queue item, an alert and a routed document carry the highest RACS level of the customers
attached to them (SPEC 3 "racs"). When a directory upsert changes a customer's level, their
existing work follows in the same transaction (issue 15):

- raised: always, so an officer without the new level stops seeing it at once;
- lowered: by default too (`racs_relevel_lowers`), because the directory is the agency's record
  of who is restricted and work kept above it would be hidden from the officers who now hold
  the customer's file. An alert whose customer is unknown never drops below the unknown level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def relevelled(
    current: int,
    customer_ids: Iterable[str],
    levels: Mapping[str, int],
    *,
    lowers: bool,
    floor: int = 0,
) -> int | None:
    """The new level for work attached to these customers, or None when it stays as it is.

    `levels` holds the directory's current level of each customer (a customer missing from it
    keeps the work at its current level: nothing shows it became less restricted)."""
    wanted = max([floor, *(levels.get(c, current) for c in customer_ids)])
    if wanted == current or (wanted < current and not lowers):
        return None
    return wanted
