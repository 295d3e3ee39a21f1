"""Items waiting to be identified, with the clues they were routed on (issue 14).

A row exists while the item sits in an awaiting-identity queue; a directory upsert finds the
rows its records could match by exact clue (CRN, email, date of birth, ABN, sender, a word of
a name) and routing decides them again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, Delete, String, Text, bindparam, delete, literal, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.writes import Condition, Writes, one_per_row, rows_insert
from mailintake_routing.adapters.tables import awaiting_identity
from mailintake_routing.domain.identify import Clues, name_words


def _texts(values: list[str]):
    return literal(values, ARRAY(Text))


async def remember(
    conn: AsyncConnection,
    document_id: str,
    queue: str,
    clues: Clues,
    classified: str,
    writes: Writes | None = None,
) -> None:
    """Keep the item waiting; with a unit of work's `writes`, in its one write statement (issue 18).
    `classified`: the payload as JSON text, encoded once (`tables.EncodedJSONB`)."""
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
    if writes is not None:
        row = {"document_id": document_id, **values}
        await writes.add(conn, REMEMBERED, row, key=("awaiting", document_id))
        return
    await conn.execute(_again(insert(awaiting_identity).values(document_id=document_id, **values)))


async def forget(conn: AsyncConnection, document_id: str, writes: Writes | None = None) -> None:
    if writes is not None:
        await writes.add(conn, FORGOTTEN, {"document": document_id}, key=("awaiting", document_id))
        return
    await conn.execute(_forget_statement("", None), {"document": document_id})


_KEPT = (
    "queue",
    "crns",
    "emails",
    "dobs",
    "abns",
    "sender",
    "sender_domain",
    "organisation_words",
    "classified",
)


def _again(statement: Insert) -> Insert:
    """Waiting already: the new clues (it keeps waiting since it first did)."""
    return statement.on_conflict_do_update(
        index_elements=["document_id"], set_={name: statement.excluded[name] for name in _KEPT}
    )


def _forget_statement(prefix: str, condition: Condition | None) -> Delete:
    forget = delete(awaiting_identity).where(
        awaiting_identity.c.document_id == bindparam(f"{prefix}document", type_=String)
    )
    return forget if condition is None else forget.where(condition)


REMEMBERED = rows_insert("awaiting", awaiting_identity, ("document_id", *_KEPT), _again)  # deferred (issue 18)
FORGOTTEN = one_per_row("not_awaiting", _forget_statement)


async def hold_still(conn: AsyncConnection) -> None:
    """Before a directory change: wait for routings' write statements to commit (each writes to
    this table), make new ones wait for this transaction, and bump the directory's version, so a
    routing that looked the directory up before this change writes nothing and looks again
    (lookup.py, issue 18): no item is left routed on the old directory, and none starts waiting
    unseen by the change. Self-exclusive: two upserts take turns, so neither waits on the other's
    waiting rows while holding its own lock."""
    await conn.execute(text("LOCK TABLE awaiting_identity IN SHARE ROW EXCLUSIVE MODE"))
    await conn.execute(text("UPDATE routing_directory_version SET version = version + 1"))


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
