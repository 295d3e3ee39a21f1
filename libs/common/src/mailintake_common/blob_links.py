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
from sqlalchemy import literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.events import BlobRef
from mailintake_common.tables import blobs, document_blobs


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


async def link(conn: AsyncConnection, document_id: str, shas: Iterable[str]) -> None:
    """Link `document_id` to those of `shas` the store holds (a reference to nothing links nothing)."""
    wanted = sorted(set(shas))
    if not wanted:
        return
    held = select(literal(document_id), blobs.c.sha256).where(blobs.c.sha256.in_(wanted))
    await conn.execute(insert(document_blobs).from_select(["document_id", "sha256"], held).on_conflict_do_nothing())
