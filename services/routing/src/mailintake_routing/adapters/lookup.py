"""What routing reads before it decides, in one statement (issue 18): the duplicate check and
the directory records an item's clues could point at; and what its write statement checks.

Before, these were up to five statements (remember-or-first, customers by exact clue, customers
by date of birth, organisations by exact clue, organisations by a word of a name), each built
by SQLAlchemy per call. Now one statement runs them as branches of one UNION ALL, with array
parameters; it has a branch only for the clues the item has (`Shape`), and each shape's text is
built once, so its prepared statement and plan are reused. It is a `statements.Statement`, run
on the asyncpg connection underneath SQLAlchemy (issue 18, session 10).

The look-up holds no lock and is autocommitted (session 10; until then routing's transaction
held customers FOR SHARE and a writer's lock on `awaiting_identity` from the look-up to its
COMMIT). It reads the directory's version (migration routing_0006) in the same snapshot as the
records, and adds a check to the unit's write statement (`DIRECTORY_UNCHANGED`): the statement
writes nothing, and raises `serialization_failure`, when the version moved, and routing runs
again (`directory_changed`). Every directory upsert locks `awaiting_identity` against writers,
then bumps the version, in its transaction (`awaiting.hold_still`); routing's write statement
always writes to that table (the item waits, or stops waiting), so it takes that lock before
its snapshot. So an upsert that commits between a routing's look-up and its write, or that is
uncommitted when the write comes, makes the routing look again: it never places an item at a
customer's old RACS level, nor leaves an item waiting unseen by a new record (issues 14, 15);
an upsert that comes after the write waits for it, and then finds its item (to re-level it, or
to identify it again).

The duplicate check reads which document had this content first; when none had, the write
statement remembers this one (`FIRST_SEEN`), and raises the same way when another document with
the same content remembered it since the look-up (this one is then its duplicate). A unit that
does not commit leaves nothing remembered, as before.

Exact identifiers (CRN, email address, ABN, registered sender or domain) return every record
that holds them, never truncated; only fuzzy candidates (people sharing a date of birth,
organisations sharing a word of a name) are capped at `fuzzy_max` (issue 14). The records come
back in the order the separate statements gave them: customers found by an exact clue first,
then those found by date of birth, each in id order; organisations by an exact clue in the
table's order (the order its scan gave until session 11, so which of two organisations sharing a
domain is taken is unchanged), then by name in id order. E-mail addresses, registered senders and
domains are found by equality in their key tables (migration routing_0007), not by a scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Update,
    bindparam,
    case,
    column,
    false,
    func,
    literal_column,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common import statements
from mailintake_common.db import is_dead_connection
from mailintake_common.statements import Record, Statement, unfolded_array
from mailintake_common.writes import Condition, Writes, one_per_row, rows_insert
from mailintake_routing.adapters.tables import seen_content
from mailintake_routing.domain.identify import Clues, name_words
from mailintake_routing.domain.model import Customer, Organisation

# the branches (the first column of their rows), in the order their records count
_EARLIER, _EXACT, _BORN, _ORGANISATION, _NAMED, _VERSION = range(6)

# Every branch gives: part, id, then the record's fields (customer | organisation): t1 crn | abn,
# t2 given_name | name, t3 family_name | kind, dob, a1 emails | email_domains, a2 case_ids |
# sender_addresses, level racs_level, b1 - | secure_messaging, b2 - | in_liquidation. The
# version's row comes first when there is one: its casts give the union its column types.
_VERSION_ROW = (
    f"SELECT {_VERSION} AS part, CAST(version AS TEXT) AS id, NULL AS t1, NULL AS t2, NULL AS t3,"
    " CAST(NULL AS DATE) AS dob, CAST(NULL AS TEXT[]) AS a1, CAST(NULL AS TEXT[]) AS a2,"
    " CAST(NULL AS INTEGER) AS level, CAST(NULL AS BOOLEAN) AS b1, CAST(NULL AS BOOLEAN) AS b2"
    " FROM routing_directory_version"
)
_EARLIER_ROW = (
    f"(SELECT {_EARLIER}, document_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM seen_content WHERE sha256 = CAST(:key AS VARCHAR))"
)
_ORGANISATION_ROW = (
    "organisation_id, abn, name, kind, NULL, email_domains, sender_addresses, NULL, secure_messaging, in_liquidation"
)
# Exact identifiers held in arrays, found by equality in their key tables (migration routing_0007,
# issue 18 session 11: `&&` on the arrays was a sequential scan under the generic plan), then the
# records by their primary keys. Each matches what `&&` matched: the stored element, as stored.
#
# Each array parameter is read through a sub-select (`statements.unfolded_array`), which the
# planner does not fold: a plan made for the values at hand is costed as the kept (generic) plan
# is, for ten elements, so after a connection's first five calls the kept plan serves and the
# statement is no longer planned on every call (issue 18, session 12; the check-in's arrays the
# same way, session 11).
# The sender and its domain are scalars (an e-mail has one sender).
_CUSTOMERS_BY_EMAIL = "customer_id = ANY(ARRAY(SELECT customer_id FROM customer_emails WHERE email = ANY({emails})))"
_ORGANISATIONS_BY_SENDER = (
    "organisation_id = ANY(ARRAY(SELECT organisation_id FROM organisation_addresses"
    " WHERE address = CAST(:domain AS TEXT) AND is_domain"
    " OR address = CAST(:sender AS TEXT) AND NOT is_domain))"
)
_CUSTOMER_ROW = "customer_id, crn, given_name, family_name, date_of_birth, emails, case_ids, racs_level, NULL, NULL"


@dataclass(frozen=True)
class Shape:
    """Which look-ups an item's clues call for: the statement has a branch for each (issue 18).

    Only those: a branch for a clue the item lacks would still cost its work, or, cut by a
    condition on its parameters, would make every plan a custom one, planned again on each call."""

    seen: bool = False
    crns: bool = False
    emails: bool = False
    dobs: bool = False
    abns: bool = False
    domain: bool = False
    names: bool = False


_KEY_ONLY = Shape(seen=True)  # a duplicate key, and no clue to look the directory up with


@lru_cache(maxsize=128)
def statement_for(shape: Shape) -> Statement[Record] | None:
    """The one statement for this shape, built once (its text, so its prepared plan, is reused),
    run on the driver connection (`statements.run`)."""
    rows = [_EARLIER_ROW] if shape.seen else []
    exact = [f"crn = ANY({unfolded_array('crns', 'TEXT')})"] if shape.crns else []
    if shape.emails:
        exact.append(_CUSTOMERS_BY_EMAIL.format(emails=unfolded_array("emails", "TEXT")))
    if exact:
        where = " OR ".join(exact)
        rows.append(f"(SELECT {_EXACT}, {_CUSTOMER_ROW} FROM customers WHERE {where} ORDER BY customer_id)")
    if shape.dobs:
        # OFFSET 0 keeps the match by date of birth a step of its own (its index), sorted after:
        # merged with the ORDER BY ... LIMIT, the kept plan walked all of customers in id order
        # (5-6.6 ms at 50,000 customers, session 11). The same rows in the same order.
        rows.append(
            f"(SELECT {_BORN}, {_CUSTOMER_ROW} FROM (SELECT * FROM customers"
            f" WHERE date_of_birth = ANY({unfolded_array('dobs', 'DATE')}) OFFSET 0) AS born"
            " ORDER BY customer_id LIMIT :fuzzy_max)"
        )
    conditions = [f"abn = ANY({unfolded_array('abns', 'TEXT')})"] if shape.abns else []
    if shape.domain:
        conditions.append(_ORGANISATIONS_BY_SENDER)
    if conditions:
        rows.append(
            f"(SELECT {_ORGANISATION}, {_ORGANISATION_ROW} FROM organisations WHERE {' OR '.join(conditions)}"
            " ORDER BY organisations.ctid)"
        )
    if shape.names:
        rows.append(
            f"(SELECT {_NAMED}, {_ORGANISATION_ROW} FROM organisations"
            " WHERE lower(name) LIKE ANY(CAST(:patterns AS TEXT[])) ORDER BY organisation_id LIMIT :fuzzy_max)"
        )
    if not rows:
        return None
    if any((shape.crns, shape.emails, shape.dobs, shape.abns, shape.domain, shape.names)):
        rows.insert(0, _VERSION_ROW)  # what was read depends on the directory: the write checks it
    return Statement(" UNION ALL ".join(rows))


def _look_again(changed: ColumnElement[bool], why: str) -> ColumnElement[bool]:
    """Raises `serialization_failure` when `changed` (migration routing_0006), else false: CASE
    keeps the order, so the function runs only then."""
    return case((changed, func.routing_look_again(literal_column(f"'{why}'"), type_=Boolean)), else_=false())


def _unchanged(prefix: str, condition: Condition | None) -> Update:
    """Writes nothing: raises if the directory's version is no longer the one the look-up read
    (`{prefix}seen`)."""
    version = table("routing_directory_version", column("version"))
    moved = version.c.version.is_distinct_from(bindparam(f"{prefix}seen", type_=BigInteger))
    check = update(version).values(version=version.c.version).where(_look_again(moved, "the directory changed"))
    return check if condition is None else check.where(condition)


def _first_or_raise(statement: Insert) -> Insert:
    """Remembered since the look-up by another document: it is first, so raise."""
    another = seen_content.c.document_id.is_distinct_from(statement.excluded.document_id)
    return statement.on_conflict_do_update(
        index_elements=["sha256"],
        set_={"document_id": statement.excluded.document_id},
        where=_look_again(another, "another document had this content first"),
    )


# added to the unit's write statement (deferred writes, `writes.py`)
DIRECTORY_UNCHANGED = one_per_row("directory_unchanged", _unchanged)
FIRST_SEEN = rows_insert("first_seen", seen_content, ("sha256", "document_id"), _first_or_raise)

_CHANGED_SQLSTATE = "40001"  # serialization_failure, raised by routing_0006's `routing_look_again`


def directory_changed(exc: BaseException) -> bool:
    """The write statement found the directory (or a content key) changed since the look-up:
    nothing was written, and routing runs again on what is there now."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == _CHANGED_SQLSTATE


@dataclass(frozen=True)
class Found:
    """The earlier document with the same content (None: none, or no key), the candidates, and
    the directory's version they were read at (None: nothing read from the directory)."""

    duplicate_of: str | None
    customers: list[Customer]
    organisations: list[Organisation]
    directory_version: int | None = None


def _like(word: str) -> str:
    """`lower(name)` contains `word` (LIKE's default escape is a backslash)."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def params_of(clues: Clues, key: str | None, fuzzy_max: int) -> dict[str, Any]:
    """The parameters for these clues (an empty list or None: no such clue, so no such look-up)."""
    sender = clues.sender
    domain = clues.sender_domain
    return {
        "key": key,
        "crns": list(clues.crns),
        "emails": [e.lower() for e in (*clues.emails, *((sender,) if sender else ()))],
        "dobs": [date.fromisoformat(dob) for _, _, dob in clues.people if dob],
        "abns": list(clues.abns),
        "domain": domain,
        "sender": (sender or "").lower() if domain else None,
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
        domain=bool(params["domain"]),
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
    """The look-up, the unit's first statement, met a dead pooled connection: nothing was
    written, so the unit may run again on a fresh one (`db.first_statement`)."""


async def _looked_up(
    conn: AsyncConnection, statement: Statement[Record], params: dict[str, Any], writes: Writes | None
) -> Sequence[Any]:
    """Autocommitted when it is the unit's first statement (in the unit's transaction otherwise);
    the consumer's claim, if still pending, waits for the writes (`writes.Gate`)."""
    held = writes.take_gate() if writes is not None else None  # else `run` would send it first
    first = not conn.in_transaction()
    try:
        return await statements.run(conn, statement, params, alone=first)
    except DBAPIError as exc:
        if first and is_dead_connection(exc):
            raise LostBeforeWriting from exc
        raise
    finally:
        if held is not None and writes is not None:
            writes.gate(*held)


async def seen_and_candidates(
    conn: AsyncConnection,
    clues: Clues,
    fuzzy_max: int,
    key: str | None = None,
    document_id: str | None = None,
    writes: Writes | None = None,
    *,
    assume_first: bool = False,
) -> Found:
    """One statement: say which earlier document had this content (domain/duplicates.py), and read
    the directory records the clues could point at, with the directory's version.

    With the unit of work's `writes` (a routing's own unit), the write statement remembers this
    document under its key when none had it, and checks that the directory is unchanged (both
    raise `directory_changed` otherwise). A key needs them. With `assume_first`, an item with no
    clue to look up skips the statement: no earlier document is assumed, which the write
    statement checks as it remembers the key (an exact duplicate then looks again)."""
    if key and (writes is None or document_id is None):
        raise ValueError("a duplicate key is remembered with the unit's writes")
    params = params_of(clues, key, fuzzy_max)
    shape = shape_of(params)
    statement = None if assume_first and shape == _KEY_ONLY else statement_for(shape)
    rows = await _looked_up(conn, statement, params, writes) if statement is not None else []
    first: str | None = None
    version: int | None = None
    customers: dict[str, Customer] = {}
    organisations: dict[str, Organisation] = {}
    for r in sorted(rows, key=lambda r: r[0]):  # stable: each branch keeps its own order
        part = r[0]
        if part == _EARLIER:
            first = first or r[1]
        elif part <= _BORN:
            if r[1] not in customers:
                customers[r[1]] = _customer(r)
        elif part <= _NAMED:
            if r[1] not in organisations:
                organisations[r[1]] = _organisation(r)
        else:
            version = int(r[1])
    if writes is not None:
        if key and first is None:
            await writes.add(conn, FIRST_SEEN, {"sha256": key, "document_id": document_id})
        if version is not None:
            await writes.add(conn, DIRECTORY_UNCHANGED, {"seen": version})
    duplicate_of = first if first and first != document_id else None
    return Found(duplicate_of, list(customers.values()), list(organisations.values()), version)
