"""What routing reads before it decides, in one statement (issue 18): the duplicate check and
the directory records an item's clues could point at.

Before, these were up to five statements (remember-or-first, customers by exact clue, customers
by date of birth, organisations by exact clue, organisations by a word of a name), each built
by SQLAlchemy per call. Now one statement runs them as branches of one UNION ALL, with array
parameters; it has a branch only for the clues the item has (`Shape`), and each shape's text is
built once, so its prepared statement and plan are reused.

Customer rows are read FOR SHARE (those found by an exact clue, then those sharing a date of
birth, each in id order, as before): a directory upsert changing a customer's RACS level waits
for a routing that read the old level to commit, and then re-levels what it placed; a routing
that starts after the upsert reads the new level (issue 15). And the statement takes the lock a
write to `awaiting_identity` takes (a no-op DELETE): a directory upsert, which locks that table
against writers before it changes the directory (`awaiting.hold_still`), waits for a routing
that looked up an item's clues to commit, and then finds its waiting row and identifies it
again; a routing that looks up while an upsert is uncommitted waits for it and reads the new
directory (new records and changed ones, which no row lock could cover). Both hold only
inside the routing's transaction, which is why routing keeps its BEGIN and COMMIT.

The consumer's claim of the event id goes in the same statement when it is the unit's first
(issue 18, session 9: the classifier's details come with the batch's check-in): one CTE more and
one row (`_CLAIMED`); an id claimed before raises, and the unit rolls back what the statement did.

Each shape's statement is a `statements.Statement` (issue 18, session 10): compiled once and run
on the asyncpg connection underneath SQLAlchemy, inside the unit's transaction (begun by `run`
as SQLAlchemy would begin it), without SQLAlchemy's execution around each call.

Exact identifiers (CRN, email address, ABN, registered sender or domain) return every record
that holds them, never truncated; only fuzzy candidates (people sharing a date of birth,
organisations sharing a word of a name) are capped at `fuzzy_max` (issue 14). The records come
back in the order the separate statements gave them: customers found by an exact clue first,
then those found by date of birth, each in id order; organisations by an exact clue, then by
name in id order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import column, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common import statements
from mailintake_common.db import is_dead_connection
from mailintake_common.statements import Record, Statement
from mailintake_common.writes import Gate, Writes
from mailintake_routing.domain.identify import Clues, name_words
from mailintake_routing.domain.model import Customer, Organisation

# the branches (the first column of their rows), in the order their records count; then the claim
_SEEN, _EARLIER, _EXACT, _BORN, _ORGANISATION, _NAMED, _CLAIMED = range(7)

# Every branch gives: part, id, then the record's fields (customer | organisation): t1 crn | abn,
# t2 given_name | name, t3 family_name | kind, dob, a1 emails | email_domains, a2 case_ids |
# sender_addresses, level racs_level, b1 - | secure_messaging, b2 - | in_liquidation.
_SEEN_ROW = (
    f"SELECT {_SEEN} AS part, document_id AS id, NULL AS t1, NULL AS t2, NULL AS t3, CAST(NULL AS DATE) AS dob,"
    " CAST(NULL AS TEXT[]) AS a1, CAST(NULL AS TEXT[]) AS a2, CAST(NULL AS INTEGER) AS level,"
    " CAST(NULL AS BOOLEAN) AS b1, CAST(NULL AS BOOLEAN) AS b2 FROM remembered"
)
_EARLIER_ROW = (
    f"(SELECT {_EARLIER}, document_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM seen_content WHERE sha256 = CAST(:key AS VARCHAR))"
)
_ORGANISATION_ROW = (
    "organisation_id, abn, name, kind, NULL, email_domains, sender_addresses, NULL, secure_messaging, in_liquidation"
)
_REMEMBER = (
    "remembered",
    "INSERT INTO seen_content (sha256, document_id)"
    " VALUES (CAST(:key AS VARCHAR), CAST(:document AS VARCHAR)) ON CONFLICT DO NOTHING RETURNING document_id",
)
# Takes the table lock a routing's waiting row would take, before this statement's snapshot (at
# bind), so a directory upsert (`awaiting.hold_still`) and a routing that could leave an item
# waiting never overlap; see `statement_for`.
_WAITING_MAY_CHANGE = ("may_wait", "DELETE FROM awaiting_identity WHERE false RETURNING document_id")
# the consumer's claim of the event id (`writes.Gate`, its first CTE returns the id when claimed)
_CLAIMED_ROW = (
    f"SELECT {_CLAIMED}, CAST({{id}} AS TEXT), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM {{cte}}"
)
_CUSTOMER_ROW = "customer_id, crn, given_name, family_name, date_of_birth, emails, case_ids, racs_level, NULL, NULL"


@dataclass(frozen=True)
class Shape:
    """Which look-ups an item's clues call for: the statement has a branch for each (issue 18).

    Only those: a branch for a clue the item lacks would still cost a scan (organisations have no
    index on their domains), or, cut by a condition on its parameters, would make every plan a
    custom one, planned again on each call."""

    seen: bool = False
    crns: bool = False
    emails: bool = False
    dobs: bool = False
    abns: bool = False
    domain: bool = False
    names: bool = False


@lru_cache(maxsize=128)
def statement_for(shape: Shape, gate: Gate | None = None) -> Statement[Record] | None:
    """The one statement for this shape, built once (its text, so its prepared plan, is reused),
    run on the driver connection (`statements.run`).

    With `gate` (the consumer's claim of its event id, `writes.Gate`), the claim is one of the
    statement's CTEs and its id one more row (`_CLAIMED`): the claim costs no statement of its own."""
    ctes: list[tuple[str, str]] = []
    rows = []
    if shape.seen:
        ctes.append(_REMEMBER)
        rows += [_SEEN_ROW, _EARLIER_ROW]
    exact = ["crn = ANY(CAST(:crns AS TEXT[]))"] if shape.crns else []
    if shape.emails:
        exact.append("emails && CAST(:emails AS TEXT[])")
    if exact:
        ctes.append(("exact", f"SELECT * FROM customers WHERE {' OR '.join(exact)} ORDER BY customer_id FOR SHARE"))
        rows.append(f"SELECT {_EXACT}, {_CUSTOMER_ROW} FROM exact")
    if shape.dobs:
        ctes.append(
            (
                "born",
                "SELECT * FROM customers WHERE date_of_birth = ANY(CAST(:dobs AS DATE[]))"
                " ORDER BY customer_id LIMIT :fuzzy_max FOR SHARE",
            )
        )
        rows.append(f"SELECT {_BORN}, {_CUSTOMER_ROW} FROM born")
    conditions = ["abn = ANY(CAST(:abns AS TEXT[]))"] if shape.abns else []
    if shape.domain:
        conditions.append("email_domains && CAST(:domains AS TEXT[]) OR sender_addresses && CAST(:senders AS TEXT[])")
    if conditions:
        rows.append(f"(SELECT {_ORGANISATION}, {_ORGANISATION_ROW} FROM organisations WHERE {' OR '.join(conditions)})")
    if shape.names:
        rows.append(
            f"(SELECT {_NAMED}, {_ORGANISATION_ROW} FROM organisations"
            " WHERE lower(name) LIKE ANY(CAST(:patterns AS TEXT[])) ORDER BY organisation_id LIMIT :fuzzy_max)"
        )
    if not rows:
        return None
    if any((shape.crns, shape.emails, shape.dobs, shape.abns, shape.domain, shape.names)):
        # an item with clues may wait for a directory change (issue 14): an upsert that commits
        # between this look-up and the routing's commit would miss its waiting row, so each
        # waits for the other (the upsert locks the waiting rows' table against writers first)
        ctes.append(_WAITING_MAY_CHANGE)
    if gate is None:
        with_ = f"WITH {', '.join(f'{name} AS ({body})' for name, body in ctes)} " if ctes else ""
        return Statement(with_ + " UNION ALL ".join(rows))
    claim, *more = gate.ctes()
    rows.append(_CLAIMED_ROW.format(cte=claim.name, id=claim.c[0].name))
    textual = [text(body).columns(column("id")).cte(name) for name, body in ctes]
    return Statement(text(" UNION ALL ".join(rows)).columns().add_cte(claim, *more, *textual))


# another transaction remembered the key after this statement's snapshot (it waited for it)
_FIRST_SEEN: Statement[Record] = Statement("SELECT document_id FROM seen_content WHERE sha256 = CAST(:key AS VARCHAR)")


@dataclass(frozen=True)
class Found:
    """The earlier document with the same content (None: none, or no key), and the candidates."""

    duplicate_of: str | None
    customers: list[Customer]
    organisations: list[Organisation]


def _like(word: str) -> str:
    """`lower(name)` contains `word` (LIKE's default escape is a backslash)."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def params_of(clues: Clues, key: str | None, document_id: str | None, fuzzy_max: int) -> dict[str, Any]:
    """The parameters for these clues (an empty list: no such clue, so no such look-up)."""
    sender = clues.sender
    domain = clues.sender_domain
    return {
        "key": key,
        "document": document_id,
        "crns": list(clues.crns),
        "emails": [e.lower() for e in (*clues.emails, *((sender,) if sender else ()))],
        "dobs": [date.fromisoformat(dob) for _, _, dob in clues.people if dob],
        "abns": list(clues.abns),
        "domains": [domain] if domain else [],
        "senders": [(sender or "").lower()] if domain else [],
        "patterns": [_like(w) for w in name_words(clues.organisation_names)],
        "fuzzy_max": fuzzy_max,
    }


def shape_of(params: dict[str, Any]) -> Shape:
    return Shape(
        seen=bool(params["key"]),
        crns=bool(params["crns"]),
        emails=bool(params["emails"]),
        dobs=bool(params["dobs"]),
        abns=bool(params["abns"]),
        domain=bool(params["domains"]),
        names=bool(params["patterns"]),
    )


def _customer(r: Any) -> Customer:
    dob = r[5]
    return Customer(
        r[1], r[2], r[3], r[4], dob.isoformat() if dob else None, tuple(e.lower() for e in r[6]), r[8], tuple(r[7])
    )


def _organisation(r: Any) -> Organisation:
    return Organisation(
        r[1], r[3], r[2], tuple(d.lower() for d in r[6]), r[4], r[9], r[10], tuple(a.lower() for a in r[7])
    )


class LostBeforeWriting(Exception):
    """The look-up that carried the unit's claim, its first statement, met a dead pooled
    connection: nothing was written, so the unit may run again on a fresh one (`db.first_statement`)."""


async def _with_claim(
    conn: AsyncConnection,
    shape: Shape,
    params: dict[str, Any],
    gate: Gate,
    claim: dict[str, Any],
    refused: Callable[[], Exception],
) -> Sequence[Any]:
    """The look-up with the consumer's claim in it; an id claimed before raises `refused()`."""
    statement = statement_for(shape, gate)
    assert statement is not None  # a shape with a look-up
    try:
        rows = await statements.run(conn, statement, {**params, **claim})
    except DBAPIError as exc:
        if is_dead_connection(exc):
            raise LostBeforeWriting from exc
        raise
    if not any(r[0] == _CLAIMED for r in rows):
        raise refused()
    return rows


async def seen_and_candidates(
    conn: AsyncConnection,
    clues: Clues,
    fuzzy_max: int,
    key: str | None = None,
    document_id: str | None = None,
    writes: Writes | None = None,
) -> Found:
    """One statement: remember this document under its duplicate key (domain/duplicates.py) and
    say which earlier one had it, and read the directory records the clues could point at.

    With the unit of work's `writes` still holding the consumer's claim (`writes.Gate`: nothing
    sent yet), the claim goes in this statement (issue 18) and an id claimed before raises what
    the gate says; with no look-up to make, the claim stays with the writes."""
    params = params_of(clues, key, document_id, fuzzy_max)
    shape = shape_of(params)
    statement = statement_for(shape)
    if statement is None:
        rows: Sequence[Any] = []
    elif (held := writes.take_gate() if writes is not None else None) is None:
        rows = await statements.run(conn, statement, params)
    else:
        rows = await _with_claim(conn, shape, params, *held)
    first: str | None = None
    customers: dict[str, Customer] = {}
    organisations: dict[str, Organisation] = {}
    for r in sorted(rows, key=lambda r: r[0]):  # stable: each branch keeps its own order
        part = r[0]
        if part <= _EARLIER:
            first = first or r[1]
        elif part <= _BORN:
            if r[1] not in customers:
                customers[r[1]] = _customer(r)
        elif part <= _NAMED and r[1] not in organisations:
            organisations[r[1]] = _organisation(r)
    if key and first is None:
        first = next((r[0] for r in await statements.run(conn, _FIRST_SEEN, {"key": key})), None)
    duplicate_of = first if first and first != document_id else None
    return Found(duplicate_of, list(customers.values()), list(organisations.values()))
