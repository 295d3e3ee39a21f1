"""Routing's look-up keeps one plan on a directory of a real size (issue 18, session 12).

Until session 12 PostgreSQL planned the look-up again on every call (0.14-0.16 ms of planning,
more than its 0.09 ms execution): a plan made for the arrays at hand (one address, one date of
birth) always looked cheaper than the kept plan, costed for ten elements each. The arrays are now
read through sub-selects, which the planner does not fold, so every plan is costed as the kept
one, and the kept plan serves after a connection's first five calls. Counted on a real
PostgreSQL (pg_stat_statements), one connection, 50,000 customers and 20,000 organisations; the
kept plan of the date-of-birth branch uses its index (merged with the ORDER BY ... LIMIT it walked
all of customers in id order), and the look-up finds what a plain query finds.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_routing.adapters import lookup
from mailintake_routing.domain.identify import Clues
from mailintake_routing.settings import RoutingSettings
from tests.support.statements import planned_during, run_script, warmed_engine

pytestmark = pytest.mark.slow

CUSTOMERS, ORGANISATIONS = 50_000, 20_000
CALLS = 12
KEPT_AFTER = 6  # five plans for the values at hand, then the kept one
FILL = f"""
INSERT INTO customers (customer_id, crn, given_name, family_name, date_of_birth, emails)
    SELECT format('C%s', lpad(i::text, 6, '0')), lpad(i::text, 9, '0') || 'K', 'Given' || i, 'Family' || i,
           make_date(1950 + i % 50, 1 + i % 12, 1 + i % 28), ARRAY['person' || i || '@example.net']
    FROM generate_series(0, {CUSTOMERS - 1}) AS i;
INSERT INTO organisations (organisation_id, name, abn, email_domains, sender_addresses, kind)
    SELECT format('O%s', lpad(i::text, 6, '0')), 'Employer ' || i || ' Pty Ltd', lpad(i::text, 11, '0'),
           ARRAY['employer' || i || '.example.com'], ARRAY['payroll@employer' || i || '.example.com'], 'employer'
    FROM generate_series(0, {ORGANISATIONS - 1}) AS i;
ANALYZE
"""


def _born(i: int) -> str:
    return date(1950 + i % 50, 1 + i % 12, 1 + i % 28).isoformat()


# the clues of routing's usual e-mails, one of each shape: a customer's address; an unknown
# domain naming a person with a date of birth; an employer's payroll sender; an agent naming a
# CRN and an ABN
SHAPES = {
    "customer": lambda i: Clues(emails=(f"person{i * 37}@example.net",), sender=f"person{i * 37}@example.net"),
    "born": lambda i: Clues(
        emails=(f"someone{i}@unknown{i}.example.org",),
        sender=f"someone{i}@unknown{i}.example.org",
        people=(("Robin", "Smith", _born(i * 53)),),
    ),
    "employer": lambda i: Clues(sender=f"payroll@employer{i * 41}.example.com"),
    "agent": lambda i: Clues(
        crns=(f"{i * 43:09d}K",),
        abns=(f"{i * 47:011d}",),
        emails=(f"a{i}@agent.example.org",),
        sender=f"a{i}@agent.example.org",
    ),
}


@pytest.fixture(scope="module")
def directory(counting_database: str) -> str:
    """The database with 50,000 customers and 20,000 organisations, analysed."""
    asyncio.run(run_script(counting_database, FILL))
    return counting_database


def _one_connection(database_url: str) -> AbstractAsyncContextManager[AsyncEngine]:
    return warmed_engine(RoutingSettings(database_url=database_url, db_pool_size=1))  # one plan cache


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_the_look_up_is_not_planned_on_every_call(directory: str, shape: str) -> None:
    found: list[lookup.Found] = []

    async def look_up() -> None:
        async with _one_connection(directory) as engine, engine.connect() as conn:
            for i in range(1, CALLS + 1):
                found.append(await lookup.seen_and_candidates(conn, SHAPES[shape](i), 200))

    planned = await planned_during(directory, look_up)
    looked = [counts for query, counts in planned.items() if "routing_directory_version" in query]
    assert [calls for calls, _ in looked] == [CALLS], planned
    assert looked[0][1] <= KEPT_AFTER, f"planned {looked[0][1]} times in {CALLS} calls"
    assert all(f.directory_version is not None for f in found)
    customers = [[c.customer_id for c in f.customers] for f in found]
    organisations = [[o.organisation_id for o in f.organisations] for f in found]
    numbers = range(1, CALLS + 1)
    if shape == "customer":
        assert customers == [[f"C{i * 37:06d}"] for i in numbers]
    if shape == "employer":
        assert organisations == [[f"O{i * 41:06d}"] for i in numbers]
    if shape == "agent":
        assert customers == [[f"C{i * 43:06d}"] for i in numbers]
        assert organisations == [[f"O{i * 47:06d}"] for i in numbers]


async def test_people_sharing_a_date_of_birth_come_from_its_index_in_id_order_up_to_the_cap(directory: str) -> None:
    fuzzy_max = 7  # fewer than the customers born on that day (about 24)
    clues = SHAPES["born"](5)
    params = lookup.params_of(clues, None, fuzzy_max)
    statement = lookup.statement_for(lookup.shape_of(params))
    assert statement is not None
    async with _one_connection(directory) as engine, engine.connect() as conn:
        found = await lookup.seen_and_candidates(conn, clues, fuzzy_max)
        wanted = await conn.execute(
            text("SELECT customer_id FROM customers WHERE date_of_birth = :born ORDER BY customer_id LIMIT :n"),
            {"born": date.fromisoformat(_born(5 * 53)), "n": fuzzy_max},
        )
        assert [c.customer_id for c in found.customers] == [r[0] for r in wanted]
        assert len(found.customers) == fuzzy_max
        compiled = statement.compiled(conn.dialect)
        values = ", ".join(map(_literal, compiled.args(params)))
        await conn.execute(text("SET plan_cache_mode = force_generic_plan"))  # the kept plan
        await conn.execute(text(f"PREPARE look AS {compiled.sql}"))
        plan = "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN EXECUTE look ({values})")))
        await conn.rollback()
    assert "ix_customers_dob" in plan, plan
    assert "Filter: (date_of_birth" not in plan, plan  # not a walk of customers in id order


def _literal(value: object) -> str:
    """A parameter as an SQL literal of unknown type (EXECUTE takes no bound parameters)."""
    if isinstance(value, list):
        return "'{" + ",".join(str(v) for v in value) + "}'"
    return f"'{value}'" if isinstance(value, str) else str(value)
