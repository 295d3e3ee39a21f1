"""The directory in PostgreSQL: upserts, and the candidate records for an item's clues."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_routing.adapters.lookup import seen_and_candidates
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


def _customer(r: Any) -> Customer:
    return Customer(
        r["customer_id"],
        r["crn"],
        r["given_name"],
        r["family_name"],
        r["date_of_birth"].isoformat() if r["date_of_birth"] else None,
        tuple(e.lower() for e in r["emails"]),
        r["racs_level"],
        tuple(r["case_ids"]),
    )


def _organisation(r: Any) -> Organisation:
    return Organisation(
        r["organisation_id"],
        r["name"],
        r["abn"],
        tuple(d.lower() for d in r["email_domains"]),
        r["kind"],
        r["secure_messaging"],
        r["in_liquidation"],
        tuple(a.lower() for a in r["sender_addresses"]),
    )


async def candidates(
    conn: AsyncConnection, clues: Clues, fuzzy_max: int = 200
) -> tuple[list[Customer], list[Organisation]]:
    """Directory records the clues could point at (`adapters/lookup.py`:
    one statement, which routing's handler also gives its duplicate check)."""
    found = await seen_and_candidates(conn, clues, fuzzy_max)
    return found.customers, found.organisations


async def customers_by_id(conn: AsyncConnection, ids: list[str], *, for_update: bool = False) -> list[Customer]:
    """The records with these ids; `for_update` locks them in id order (a directory upsert)."""
    if not ids:
        return []
    query = select(customers).where(customers.c.customer_id.in_(ids))
    if for_update:
        query = query.order_by(customers.c.customer_id).with_for_update()
    return [_customer(r) for r in (await conn.execute(query)).mappings()]


async def organisation_by_id(conn: AsyncConnection, organisation_id: str) -> Organisation | None:
    query = select(organisations).where(organisations.c.organisation_id == organisation_id)
    row = (await conn.execute(query)).mappings().first()
    return _organisation(row) if row else None
