"""Which documents name which blobs: recorded with every event that carries a `BlobRef`.

Content is stored once under its sha256, so one blob can belong to many documents (the same
attachment mailed twice). Retention (records disposal) may delete a blob only when every
document naming it may be disposed of, so the link is written in the same transaction as
the event that first names the blob for a document (`Outbox.add`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import String, Text, any_, bindparam, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from mailintake_common.events import BlobRef
from mailintake_common.tables import blobs, document_blobs
from mailintake_common.writes import Condition, Writes, one_per_row


def shas_in(value: Any) -> set[str]:
    """Every blob a payload names, however deep (parts, cleared parts, the text)."""
    if isinstance(value, BlobRef):
        return {value.sha256}
    found: set[str] = set()
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found |= shas_in(getattr(value, name))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            found |= shas_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            found |= shas_in(item)
    return found


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
    row = {"document": document_id, "shas": wanted, "pending": pending}
    await writes.add(conn, LINKS, row, key=("links", document_id), merge=_merged)


def blob_key(sha: str) -> tuple[str, str]:
    """A deferred blob row's key in a unit's `writes` (blobs.py)."""
    return ("blob", sha)


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two links of one document in one unit (two events naming blobs): one row."""
    return {
        "document": old["document"],
        "shas": sorted({*old["shas"], *new["shas"]}),
        "pending": sorted({*old["pending"], *new["pending"]}),
    }


def _link_statement(prefix: str, condition: Condition | None) -> UpdateBase:
    shas = bindparam(f"{prefix}shas", type_=ARRAY(Text))
    wanted = func.unnest(shas).table_valued("sha").render_derived(name="wanted")
    held = exists(select(blobs.c.sha256).where(blobs.c.sha256 == wanted.c.sha))
    linked = select(bindparam(f"{prefix}document", type_=String), wanted.c.sha).where(
        or_(wanted.c.sha == any_(bindparam(f"{prefix}pending", type_=ARRAY(Text))), held)
    )
    if condition is not None:
        linked = linked.where(condition)
    return insert(document_blobs).from_select(["document_id", "sha256"], linked).on_conflict_do_nothing()


LINKS = one_per_row("link", _link_statement)
