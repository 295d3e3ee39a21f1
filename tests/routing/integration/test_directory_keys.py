"""The directory's e-mail addresses, domains and registered senders found by equality on an index
(issue 18, session 11; migration routing_0007).

Routing's look-up finds customers by e-mail address and organisations by sender domain or
registered sender in key tables (`customer_emails`, `organisation_addresses`) with B-tree primary
keys, kept in step with the records' arrays by triggers. Checked on a real PostgreSQL: what a
directory upsert adds, changes and removes is found, or no longer found, at once; case and a
leading '@' are normalised as before (the upsert stores them so, the look-up asks so); the key
tables hold exactly the arrays' elements whatever writes the records (plain SQL too) and are
filled from the records already there when the migration runs; and on a directory large enough
that PostgreSQL scans the tables for `&&`, the look-up's generic plan uses the key tables' indexes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.db import make_engine
from mailintake_common.migrate import downgrade, upgrade
from mailintake_routing import commands
from mailintake_routing.adapters import directory, lookup
from mailintake_routing.domain.identify import Clues
from mailintake_routing.settings import RoutingSettings
from tests.support.stack import migrated_postgres

pytestmark = pytest.mark.slow

# the key tables, and what they must hold: each array element with its record's id, as stored (up
# to 2,000 octets: no address or domain is longer)
KEYS_HELD = "SELECT email, customer_id FROM customer_emails ORDER BY 1, 2"
KEYS_WANTED = (
    "SELECT DISTINCT e, customer_id FROM customers, unnest(emails) AS e"
    " WHERE e IS NOT NULL AND octet_length(e) <= 2000 ORDER BY 1, 2"
)
ADDRESSES_HELD = "SELECT address, is_domain, organisation_id FROM organisation_addresses ORDER BY 1, 2, 3"
ADDRESSES_WANTED = (
    "SELECT * FROM (SELECT a, true, organisation_id FROM organisations, unnest(email_domains) AS a WHERE a IS NOT NULL"
    " UNION SELECT a, false, organisation_id FROM organisations, unnest(sender_addresses) AS a WHERE a IS NOT NULL)"
    " AS wanted WHERE octet_length(a) <= 2000 ORDER BY 1, 2, 3"
)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_postgres(tmp_path_factory.mktemp("directory-keys") / "pg") as url:
        yield url


@pytest.fixture
def settings(database: str) -> RoutingSettings:
    return RoutingSettings(database_url=database)


@pytest.fixture
async def engine(settings: RoutingSettings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


def organisation(organisation_id: str, domains: list[str], senders: list[str]) -> dict[str, Any]:
    return {
        "organisation_id": organisation_id,
        "name": f"Harbourside Joinery {organisation_id} Pty Ltd",
        "abn": None,
        "email_domains": domains,
        "sender_addresses": senders,
        "kind": "employer",
        "secure_messaging": False,
        "in_liquidation": False,
    }


def customer(customer_id: str, crn: str, emails: list[str]) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "crn": crn,
        "given_name": "Robin",
        "family_name": "Ashdown",
        "date_of_birth": None,
        "emails": emails,
        "racs_level": 0,
    }


async def organisations_for(engine: AsyncEngine, sender: str) -> list[str]:
    async with engine.connect() as conn:
        _, found = await directory.candidates(conn, Clues(sender=sender))
    return [o.organisation_id for o in found]


async def customers_for(engine: AsyncEngine, sender: str) -> list[str]:
    async with engine.connect() as conn:
        found, _ = await directory.candidates(conn, Clues(emails=(sender,), sender=sender))
    return [c.customer_id for c in found]


async def held_and_wanted(engine: AsyncEngine) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    async with engine.connect() as conn:
        held, wanted, addresses, wanted_addresses = [
            [tuple(r) for r in await conn.execute(text(q))]
            for q in (KEYS_HELD, KEYS_WANTED, ADDRESSES_HELD, ADDRESSES_WANTED)
        ]
    return held, wanted, addresses, wanted_addresses


async def assert_in_step(engine: AsyncEngine, after: str = "") -> None:
    held, wanted, addresses, wanted_addresses = await held_and_wanted(engine)
    assert held == wanted, after
    assert addresses == wanted_addresses, after


async def test_a_domain_and_a_sender_added_changed_and_removed_by_an_upsert_are_found_then_not(
    engine: AsyncEngine, settings: RoutingSettings
) -> None:
    # case and a leading '@' as an administrator may give them: the upsert stores them lower-cased, bare
    added = organisation("ORG-KEYS-1", [" @Joinery-Keys.Example.COM"], ["Payroll@Timber-Keys.Example.com"])
    await commands.upsert_organisations(engine, [added], settings)
    assert await organisations_for(engine, "Jo.Bloggs@JOINERY-KEYS.example.com") == ["ORG-KEYS-1"]
    assert await organisations_for(engine, "payroll@timber-keys.EXAMPLE.com") == ["ORG-KEYS-1"]
    assert await organisations_for(engine, "someone.else@timber-keys.example.com") == []  # a sender, not a domain

    changed = organisation("ORG-KEYS-1", ["joinery-keys.example.net"], ["wages@timber-keys.example.com"])
    await commands.upsert_organisations(engine, [changed], settings)
    assert await organisations_for(engine, "jo.bloggs@joinery-keys.example.com") == []
    assert await organisations_for(engine, "jo.bloggs@joinery-keys.example.net") == ["ORG-KEYS-1"]
    assert await organisations_for(engine, "payroll@timber-keys.example.com") == []
    assert await organisations_for(engine, "Wages@Timber-Keys.example.com") == ["ORG-KEYS-1"]

    await commands.upsert_organisations(engine, [organisation("ORG-KEYS-1", [], [])], settings)
    assert await organisations_for(engine, "jo.bloggs@joinery-keys.example.net") == []
    assert await organisations_for(engine, "wages@timber-keys.example.com") == []
    await assert_in_step(engine)


async def test_a_customers_email_added_changed_and_removed_by_an_upsert_is_found_then_not(
    engine: AsyncEngine, settings: RoutingSettings
) -> None:
    await commands.upsert_customers(
        engine, [customer("CUST-KEYS-1", "100000001K", [" Robin@Keys.Example.NET"])], settings
    )
    assert await customers_for(engine, "ROBIN@keys.example.net") == ["CUST-KEYS-1"]

    changed = customer("CUST-KEYS-1", "100000001K", ["robin.ashdown@keys.example.net", "r.a@keys.example.org"])
    await commands.upsert_customers(engine, [changed], settings)
    assert await customers_for(engine, "robin@keys.example.net") == []
    assert await customers_for(engine, "r.a@keys.example.org") == ["CUST-KEYS-1"]

    await commands.upsert_customers(engine, [customer("CUST-KEYS-1", "100000001K", [])], settings)
    assert await customers_for(engine, "r.a@keys.example.org") == []
    await assert_in_step(engine)


async def test_an_element_too_long_for_an_index_is_stored_with_its_record_but_not_held(
    engine: AsyncEngine, settings: RoutingSettings
) -> None:
    """No address or domain is 2,000 octets long; a record holding such an element is still stored
    (a B-tree entry over about 2,700 octets would fail the upsert)."""
    long = "".join(uuid.uuid4().hex for _ in range(100)) + ".example.com"  # 3,212 octets, incompressible
    record = organisation("ORG-LONG-1", [long, "long-keys.example.com"], [])
    await commands.upsert_organisations(engine, [record], settings)
    assert await organisations_for(engine, "a@long-keys.example.com") == ["ORG-LONG-1"]
    async with engine.connect() as conn:
        held = await conn.execute(text("SELECT count(*) FROM organisation_addresses WHERE address = :a"), {"a": long})
        assert held.scalar_one() == 0


async def test_two_organisations_sharing_a_domain_come_back_in_the_tables_order_as_the_scan_gave_them(
    engine: AsyncEngine, settings: RoutingSettings
) -> None:
    """Which one a sender's domain identifies is the first candidate (identify_organisation): the
    table's order, which an update changes (the row moves), as with the scan before."""
    first, second = (organisation(f"ORG-SHARED-{n}", ["shared-keys.example.com"], []) for n in (2, 1))
    await commands.upsert_organisations(engine, [first, second], settings)
    assert await organisations_for(engine, "a@shared-keys.example.com") == ["ORG-SHARED-2", "ORG-SHARED-1"]
    await commands.upsert_organisations(engine, [first], settings)  # updated: now last in the table
    assert await organisations_for(engine, "a@shared-keys.example.com") == ["ORG-SHARED-1", "ORG-SHARED-2"]


async def test_the_key_tables_follow_every_write_to_the_records_in_plain_sql(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO customers (customer_id, crn, given_name, family_name, emails) VALUES"
                " ('CUST-SQL-1', '200000001K', 'A', 'B', ARRAY['a@sql.example', 'a@sql.example', 'B@Sql.Example']),"
                " ('CUST-SQL-2', '200000002K', 'C', 'D', ARRAY['c@sql.example'])"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO organisations (organisation_id, name, email_domains, sender_addresses, kind) VALUES"
                " ('ORG-SQL-1', 'E', ARRAY['sql.example', 'sql.example'], ARRAY['sql.example'], 'employer'),"
                " ('ORG-SQL-2', 'F', ARRAY['f.sql.example'], ARRAY[]::TEXT[], 'employer')"
            )
        )
    assert await customers_for(engine, "a@sql.example") == ["CUST-SQL-1"]
    assert await customers_for(engine, "b@sql.example") == []  # stored upper-case by SQL: `&&` never matched it
    writes = [
        "UPDATE customers SET emails = ARRAY['a2@sql.example'] WHERE customer_id = 'CUST-SQL-1'",
        "UPDATE customers SET given_name = 'Z' WHERE customer_id = 'CUST-SQL-2'",  # arrays unchanged
        "UPDATE customers SET customer_id = 'CUST-SQL-3' WHERE customer_id = 'CUST-SQL-2'",
        "DELETE FROM customers WHERE customer_id = 'CUST-SQL-1'",
        "UPDATE organisations SET sender_addresses = ARRAY['x@f.sql.example'] WHERE organisation_id = 'ORG-SQL-2'",
        "UPDATE organisations SET organisation_id = 'ORG-SQL-3', email_domains = '{}'"
        " WHERE organisation_id = 'ORG-SQL-1'",
        "DELETE FROM organisations WHERE organisation_id = 'ORG-SQL-2'",
    ]
    for write in writes:
        async with engine.begin() as conn:
            await conn.execute(text(write))
        await assert_in_step(engine, write)
    assert await customers_for(engine, "c@sql.example") == ["CUST-SQL-3"]
    assert await organisations_for(engine, "sql.example@sql.example") == []  # ORG-SQL-3's sender, not this
    assert await organisations_for(engine, "x@f.sql.example") == []


async def test_the_migration_fills_the_key_tables_from_the_records_already_stored(
    engine: AsyncEngine, database: str
) -> None:
    await engine.dispose()
    await _to_thread(downgrade, database, "routing_0006")
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO customers (customer_id, crn, given_name, family_name, emails) VALUES"
                    " ('CUST-OLD-1', '300000001K', 'A', 'B', ARRAY['old@before.example', 'old2@before.example'])"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO organisations (organisation_id, name, email_domains, sender_addresses, kind) VALUES"
                    " ('ORG-OLD-1', 'E', ARRAY['before.example'], ARRAY['pay@before.example'], 'employer')"
                )
            )
    finally:
        await engine.dispose()
        await _to_thread(upgrade, database)
    held, wanted, addresses, wanted_addresses = await held_and_wanted(engine)
    assert ("old2@before.example", "CUST-OLD-1") in held and held == wanted
    assert ("pay@before.example", False, "ORG-OLD-1") in addresses and addresses == wanted_addresses
    assert await organisations_for(engine, "x@before.example") == ["ORG-OLD-1"]
    assert await customers_for(engine, "old@before.example") == ["CUST-OLD-1"]


async def _to_thread(function: Any, *args: str) -> None:
    await asyncio.to_thread(function, *args)


GENERIC_PLAN = "SET plan_cache_mode = force_generic_plan"


async def generic_plan(engine: AsyncEngine, sql: str, values: str) -> str:
    """The plan a prepared statement reused as the driver reuses it (generic), run."""
    async with engine.connect() as conn:
        await conn.execute(text(GENERIC_PLAN))
        await conn.execute(text(f"PREPARE look AS {sql}"))
        plan = "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN ANALYZE EXECUTE look ({values})")))
        await conn.execute(text("DEALLOCATE look"))
        await conn.rollback()
    return plan


async def test_on_a_large_directory_the_look_up_uses_the_key_tables_indexes_where_and_would_scan(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO customers (customer_id, crn, given_name, family_name, emails)"
                " SELECT 'CUST-BIG-' || i, lpad(i::text, 9, '0') || 'Q', 'G', 'F',"
                " ARRAY['person' || i || '@big.example']"
                " FROM generate_series(1, 50000) AS i"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO organisations (organisation_id, name, email_domains, sender_addresses, kind)"
                " SELECT 'ORG-BIG-' || i, 'Employer ' || i, ARRAY['employer' || i || '.big.example'],"
                " ARRAY['payroll@employer' || i || '.big.example'], 'employer' FROM generate_series(1, 20000) AS i"
            )
        )
        for table in ("customers", "organisations", "customer_emails", "organisation_addresses"):
            await conn.execute(text(f"ANALYZE {table}"))
    # without the key tables: `&&` on the arrays, as until session 11, is a sequential scan here
    before = await generic_plan(
        engine,
        "SELECT organisation_id FROM organisations WHERE email_domains && $1 OR sender_addresses && $2"
        " UNION ALL SELECT customer_id FROM customers WHERE emails && $3",
        "'{employer7.big.example}', '{payroll@employer7.big.example}', '{payroll@employer7.big.example}'",
    )
    assert "Seq Scan on organisations" in before and "Seq Scan on customers" in before, before

    params = lookup.params_of(
        Clues(crns=("000000007Q",), emails=("person9@big.example",), sender="payroll@employer7.big.example"), None, 200
    )
    statement = lookup.statement_for(lookup.shape_of(params))
    assert statement is not None
    async with engine.connect() as conn:
        sql = statement.compiled(conn.dialect).sql
        args = statement.compiled(conn.dialect).args(params)
    values = ", ".join(
        "'{" + ",".join(v) + "}'" if isinstance(v, list) else f"'{v}'" if isinstance(v, str) else str(v) for v in args
    )
    plan = await generic_plan(engine, sql, values)
    assert "Seq Scan on organisations" not in plan and "Seq Scan on customers" not in plan, plan
    assert "organisation_addresses_pkey" in plan and "customer_emails_pkey" in plan, plan
    assert "organisations_pkey" in plan and "customers_crn_key" in plan, plan
    assert await organisations_for(engine, "payroll@employer7.big.example") == ["ORG-BIG-7"]
    assert await customers_for(engine, "person9@big.example") == ["CUST-BIG-9"]
