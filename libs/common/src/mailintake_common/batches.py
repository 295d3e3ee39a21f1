"""A partition's batch of records, worked on side by side by document (issue 18): pure.

Records of one partition are keyed by document id. Records of different documents do not
depend on each other, so the runner applies them side by side (a slow scan no longer holds up
the letters behind it); records of one document stay in their order, one after the other
(`chains`). Offsets are committed only up to the last record before which every record is
finished (`Progress`), so a crash or a shutdown mid-batch commits nothing past a record that
is still unfinished: it and everything after it is fetched again (and a record finished after
it is skipped then as a duplicate, by its event id).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from mailintake_common.events import Envelope, InvalidEvent


class Keyed(Protocol):
    @property
    def key(self) -> bytes | None: ...

    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=Keyed)


def chains(records: Sequence[R]) -> list[list[R]]:
    """The records grouped by key (document), each group in offset order, groups in the order
    of their first record. Records without a key form one group: nothing says they are
    independent."""
    groups: dict[Hashable, list[R]] = {}
    for record in records:
        groups.setdefault(record.key, []).append(record)
    return list(groups.values())


def first_copies(
    records: Sequence[Keyed], parsed: Mapping[int, Envelope[Any] | InvalidEvent]
) -> dict[str, tuple[int, str | None]]:
    """The batch's valid events to check in together: event id -> (offset, document id) of its
    first copy. A later copy of the same id checks in on its own after the first (a duplicate)."""
    firsts: dict[str, tuple[int, str | None]] = {}
    for record in records:
        event = parsed[record.offset]
        if not isinstance(event, InvalidEvent) and event.event_id not in firsts:
            firsts[event.event_id] = (record.offset, event.document_id)
    return firsts


def blobs_to_read(refs: Iterable[tuple[str, int]], each_bytes: int, batch_bytes: int) -> list[str]:
    """Which blobs, (sha256, size) in the batch's order, a batch reads with its check-in (issue
    18): each at most `each_bytes`, in all at most `batch_bytes`, each once; a blob left out is
    read by the handler when it needs it, as before."""
    chosen: dict[str, None] = {}
    total = 0
    for sha, size in refs:
        if sha in chosen or size > each_bytes or total + size > batch_bytes:
            continue
        chosen[sha] = None
        total += size
    return list(chosen)


class Progress:
    """Which offsets of a batch are finished, and the offset it is safe to commit."""

    def __init__(self, offsets: Sequence[int]) -> None:
        self._offsets = sorted(offsets)
        self._finished: set[int] = set()
        self._next = 0  # index of the first unfinished record

    def finish(self, offset: int) -> int | None:
        """Mark `offset` finished; returns the offset to commit now (the next record to read
        after the contiguous finished ones) when it moved, else None."""
        self._finished.add(offset)
        moved = False
        while self._next < len(self._offsets) and self._offsets[self._next] in self._finished:
            self._next += 1
            moved = True
        return self._offsets[self._next - 1] + 1 if moved else None

    @property
    def done(self) -> bool:
        return self._next == len(self._offsets)
