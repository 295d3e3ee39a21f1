"""The directory in PostgreSQL: upserts, and the candidate records for an item's clues."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Text, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_routing.adapters.tables import customers, organisations
from mailintake_routing.domain.identify import Clues
from mailintake_routing.domain.model import Customer, Organisation


class DirectoryConflict(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


async def upsert_customers(conn: AsyncConnection, records: list[dict[str, Any]]) -> int:
    """Upsert by customer_id; a CRN already held by another customer raises DirectoryConflict."""
    for index, record in enumerate(records):
        owner = (await conn.execute(select(customers.c.customer_id).where(customers.c.crn == record["crn"]))).scalar()
        if owner is not None and owner != record["customer_id"]:
            raise DirectoryConflict(index)
        stmt = insert(customers).values(**record, updated_at=func.now())
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["customer_id"], set_={k: stmt.excluded[k] for k in (*record, "updated_at")}
            )
        )
    return len(records)


async def upsert_organisations(conn: AsyncConnection, records: list[dict[str, Any]]) -> int:
    """Upsert by organisation_id; an ABN already held by another organisation raises DirectoryConflict."""
    for index, record in enumerate(records):
        if record["abn"]:
            query = select(organisations.c.organisation_id).where(organisations.c.abn == record["abn"])
            owner = (await conn.execute(query)).scalar()
            if owner is not None and owner != record["organisation_id"]:
                raise DirectoryConflict(index)
        stmt = insert(organisations).values(**record, updated_at=func.now())
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["organisation_id"], set_={k: stmt.excluded[k] for k in (*record, "updated_at")}
            )
        )
    return len(records)


def _texts(values: list[str]):
    return literal(values, ARRAY(Text))


async def candidates(conn: AsyncConnection, clues: Clues) -> tuple[list[Customer], list[Organisation]]:
    emails = [e.lower() for e in (*clues.emails, *([clues.sender] if clues.sender else []))]
    dobs = [date.fromisoformat(dob) for _, _, dob in clues.people if dob]
    conditions = []
    if clues.crns:
        conditions.append(customers.c.crn.in_(clues.crns))
    if emails:
        conditions.append(customers.c.emails.overlap(_texts(emails)))
    if dobs:
        conditions.append(customers.c.date_of_birth.in_(dobs))
    found_customers: list[Customer] = []
    if conditions:
        rows = (await conn.execute(select(customers).where(or_(*conditions)).limit(200))).mappings()
        found_customers = [
            Customer(
                r["customer_id"],
                r["crn"],
                r["given_name"],
                r["family_name"],
                r["date_of_birth"].isoformat() if r["date_of_birth"] else None,
                tuple(e.lower() for e in r["emails"]),
                r["racs_level"],
            )
            for r in rows
        ]
    org_conditions = []
    if clues.abns:
        org_conditions.append(organisations.c.abn.in_(clues.abns))
    if clues.sender_domain:
        org_conditions.append(organisations.c.email_domains.overlap(_texts([clues.sender_domain])))
        org_conditions.append(organisations.c.sender_addresses.overlap(_texts([(clues.sender or "").lower()])))
    found_orgs: list[Organisation] = []
    if org_conditions:
        rows = (await conn.execute(select(organisations).where(or_(*org_conditions)).limit(50))).mappings()
        found_orgs = [
            Organisation(
                r["organisation_id"],
                r["name"],
                r["abn"],
                tuple(d.lower() for d in r["email_domains"]),
                r["kind"],
                r["secure_messaging"],
                r["in_liquidation"],
                tuple(a.lower() for a in r["sender_addresses"]),
            )
            for r in rows
        ]
    return found_customers, found_orgs
