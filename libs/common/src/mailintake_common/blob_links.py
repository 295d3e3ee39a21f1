"""Which documents name which blobs: recorded with every event that carries a `BlobRef`.

Content is stored once under its sha256, so one blob can belong to many documents (the same
attachment mailed twice). Retention (records disposal) may delete a blob only when every
document naming it may be disposed of, so the link is written in the same transaction as
the event that first names the blob for a document (`Outbox.add`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import String, Text, bindparam, exists, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from mailintake_common.events import BlobRef
from mailintake_common.tables import blobs, document_blobs
from mailintake_common.writes import Condition, Kind, Writes, one_per_row


def shas_in(value: Any) -> set[str]:
    """Every blob a payload names, however deep (parts, cleared parts, the text)."""
    return {ref.sha256 for ref in refs_in(value)}


def refs_in(value: Any) -> list[BlobRef]:
    """Every blob reference a payload holds, however deep, in the payload's order."""
    found: list[BlobRef] = []
    _collect(value, found)
    return found


_OTHER, _REF, _MODEL, _ITEMS, _MAPPING = range(5)
_KINDS: dict[type, int] = {}  # how to walk a value of each type (isinstance on a model class is slow)


def _kind(of: type) -> int:
    if issubclass(of, BlobRef):
        return _REF
    if issubclass(of, BaseModel):
        return _MODEL
    if issubclass(of, (list, tuple, set, frozenset)):
        return _ITEMS
    return _MAPPING if issubclass(of, dict) else _OTHER


def _collect(value: Any, found: list[BlobRef]) -> None:
    kind = _KINDS.get(type(value))
    if kind is None:
        kind = _KINDS[type(value)] = _kind(type(value))
    if kind == _REF:
        found.append(value)
    elif kind == _MODEL:
        for item in value.__dict__.values():  # its fields' values (pydantic keeps them there)
            _collect(item, found)
    elif kind == _ITEMS:
        for item in value:
            _collect(item, found)
    elif kind == _MAPPING:
        for item in value.values():
            _collect(item, found)


async def link(conn: AsyncConnection, document_id: str, shas: Iterable[str], writes: Writes | None = None) -> None:
    """Link `document_id` to those of `shas` the store holds (a reference to nothing links nothing).

    With `writes` (a unit of work's), the link waits for the unit's one write statement: a blob
    written in that same statement cannot be read there (one snapshot), so it is named as
    `pending` and linked by value; the others are linked when the store holds them."""
    wanted = sorted(set(shas))
    if not wanted:
        return
    if writes is None:
        held = select(literal(document_id), blobs.c.sha256).where(blobs.c.sha256.in_(wanted))
        await conn.execute(insert(document_blobs).from_select(["document_id", "sha256"], held).on_conflict_do_nothing())
        return
    pending = [sha for sha in wanted if writes.pending(blob_key(sha))]
    if pending:
        row = {"document": document_id, "shas": pending}
        await writes.add(conn, PENDING_LINKS, row, key=("links", document_id), merge=_merged)
    for sha in wanted:
        if sha not in pending:
            await writes.add(conn, HELD_LINKS, {"document": document_id, "sha": sha}, key=("link", document_id, sha))


def blob_key(sha: str) -> tuple[str, str]:
    """A deferred blob row's key in a unit's `writes` (blobs.py)."""
    return ("blob", sha)


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two links of one document in one unit (two events naming blobs): one row."""
    return {"document": old["document"], "shas": sorted({*old["shas"], *new["shas"]})}


# The two link statements keep one plan whatever the number of blobs (session 8): with the
# blobs' array unnested and each looked up, PostgreSQL costed the kept (generic) plan for ten
# lookups against one with the values known, so it planned the unit's whole statement again on
# every call (0.18-0.26 ms of its CPU per statement).


def _pending_statement(prefix: str, condition: Condition | None) -> UpdateBase:
    """Blobs written in the same statement (one snapshot: not readable there), linked by value."""
    shas = func.unnest(bindparam(f"{prefix}shas", type_=ARRAY(Text)))
    linked = select(bindparam(f"{prefix}document", type_=String), shas)
    if condition is not None:
        linked = linked.where(condition)
    return insert(document_blobs).from_select(["document_id", "sha256"], linked).on_conflict_do_nothing()


def _held(rows: int, condition: Condition | None) -> Sequence[UpdateBase]:
    """Blobs the store already holds (a reference to nothing links nothing), one SELECT a row."""
    selects = []
    for i in range(rows):
        sha = bindparam(f"held{i}_sha", type_=String)
        held = exists(select(blobs.c.sha256).where(blobs.c.sha256 == sha))
        linked = select(bindparam(f"held{i}_document", type_=String), sha).where(held)
        selects.append(linked if condition is None else linked.where(condition))
    linked_all = selects[0] if rows == 1 else union_all(*selects)
    return [insert(document_blobs).from_select(["document_id", "sha256"], linked_all).on_conflict_do_nothing()]


PENDING_LINKS = one_per_row("link", _pending_statement)
HELD_LINKS = Kind("held", _held)
