"""Items waiting to be identified, with the clues they were routed on (issue 14).

A row exists while the item sits in an awaiting-identity queue; a directory upsert finds the
rows its records could match by exact clue (CRN, email, date of birth, ABN, sender, a word of
a name) and routing decides them again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, Text, delete, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_routing.adapters.tables import awaiting_identity
from mailintake_routing.domain.identify import Clues, name_words


def _texts(values: list[str]):
    return literal(values, ARRAY(Text))


async def remember(
    conn: AsyncConnection, document_id: str, queue: str, clues: Clues, classified: dict[str, Any]
) -> None:
    values = {
        "queue": queue,
        "crns": list(clues.crns),
        "emails": [e.lower() for e in (*clues.emails, *([clues.sender] if clues.sender else []))],
        "dobs": [date.fromisoformat(dob) for _, _, dob in clues.people if dob],
        "abns": list(clues.abns),
        "sender": (clues.sender or "").lower() or None,
        "sender_domain": clues.sender_domain,
        "organisation_words": name_words(clues.organisation_names),
        "classified": classified,
    }
    stmt = insert(awaiting_identity).values(document_id=document_id, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["document_id"], set_=values))


async def forget(conn: AsyncConnection, document_id: str) -> None:
    await conn.execute(delete(awaiting_identity).where(awaiting_identity.c.document_id == document_id))


async def _matching(conn: AsyncConnection, conditions: list[Any]) -> list[dict[str, Any]]:
    """Not locked here: the caller locks each queue item first, in the order the handler does."""
    if not conditions:
        return []
    query = (
        select(awaiting_identity)
        .where(or_(*conditions))
        .order_by(awaiting_identity.c.since, awaiting_identity.c.document_id)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def matching_customers(conn: AsyncConnection, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Waiting items a clue of which one of these customers holds."""
    crns = [r["crn"] for r in records]
    emails = sorted({e for r in records for e in r["emails"]})
    dobs = sorted({r["date_of_birth"] for r in records if r.get("date_of_birth")})
    conditions = [awaiting_identity.c.crns.overlap(_texts(crns))] if crns else []
    if emails:
        conditions.append(awaiting_identity.c.emails.overlap(_texts(emails)))
    if dobs:
        conditions.append(awaiting_identity.c.dobs.overlap(literal(dobs, ARRAY(Date))))
    return await _matching(conn, conditions)


async def matching_organisations(conn: AsyncConnection, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Waiting items a clue of which one of these organisations holds."""
    abns = [r["abn"] for r in records if r.get("abn")]
    domains = sorted({d for r in records for d in r["email_domains"]})
    addresses = sorted({a for r in records for a in r["sender_addresses"]})
    words = name_words([r["name"] for r in records], every=True)
    conditions = [awaiting_identity.c.abns.overlap(_texts(abns))] if abns else []
    if domains:
        conditions.append(awaiting_identity.c.sender_domain.in_(domains))
    if addresses:
        conditions.append(awaiting_identity.c.sender.in_(addresses))
    if words:
        conditions.append(awaiting_identity.c.organisation_words.overlap(_texts(words)))
    return await _matching(conn, conditions)
