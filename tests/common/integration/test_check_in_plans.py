"""A partition batch's check-in keeps one plan on tables of a real size (issue 18, session 11).

Planned for the values at hand, the check-in counted the batch's events and blobs: on tables
that hold a few thousand documents, a plan made for a batch of one or two looked cheaper than
the kept plan (costed for ten), so PostgreSQL planned the statement again on every call, at two
to three times its execution. Counted on a real PostgreSQL (pg_stat_statements), one connection:
its first five calls are planned for their values, then the kept plan serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import attempts
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import classification_details, received_details
from tests.support.statements import planned_during, run_script, warmed_engine

pytestmark = pytest.mark.slow

CALLS = 12
KEPT_AFTER = 6  # five plans for the values at hand, then the kept one
ROWS = 3000  # documents already there: enough for a plan made for one event to look cheaper
FILL = f"""
INSERT INTO documents (document_id, channel, status, received_at)
    SELECT 'old' || g, 'email', 'routed', now() FROM generate_series(1, {ROWS}) g;
INSERT INTO received_details (document_id, details) SELECT 'old' || g, '{{}}' FROM generate_series(1, {ROWS}) g;
INSERT INTO classification_details (document_id, details) SELECT 'old' || g, '{{}}' FROM generate_series(1, {ROWS}) g;
INSERT INTO blobs (sha256, size, media_type, content)
    SELECT 'sha' || g, 32, 'text/plain', convert_to(md5(g::text), 'UTF8') FROM generate_series(1, {ROWS}) g;
INSERT INTO processed_events (consumer, event_id)
    SELECT c, 'old' || g FROM generate_series(1, {ROWS}) g, (VALUES ('quarantine'), ('routing')) v(c);
ANALYZE
"""


@pytest.fixture(scope="module")
def filled(counting_database: str) -> str:
    asyncio.run(run_script(counting_database, FILL))
    return counting_database


@pytest.fixture
async def engine(filled: str) -> AsyncIterator[AsyncEngine]:
    one_connection = CommonSettings(database_url=filled, db_pool_size=1)  # one plan cache
    async with warmed_engine(one_connection) as engine:
        yield engine


@pytest.mark.parametrize(
    ("consumer", "details", "with_blobs"),
    [("quarantine", received_details, True), ("routing", classification_details, False)],
)
async def test_a_batch_check_in_is_not_planned_on_every_batch(
    filled: str, engine: AsyncEngine, consumer: str, details: Table, with_blobs: bool
) -> None:
    found: list[attempts.Early] = []

    async def check_in() -> None:
        for i in range(CALLS):
            numbers = [7 * i + 1, 7 * i + 2][: 1 + i % 2]  # batches of one and two, in turn
            events = [(f"{consumer}-{i}-{n}", f"old{n}") for n in numbers]
            shas = [f"sha{n}" for n in numbers] if with_blobs else None
            found.extend(await attempts.check_in_batch(engine, consumer, events, details, shas, 1024))

    planned = await planned_during(filled, check_in)
    [(calls, plans)] = [counts for query, counts in planned.items() if query.startswith("WITH batch AS")]
    assert calls == CALLS
    assert plans <= KEPT_AFTER
    # what the statement answers is unchanged: each event counted once, its details and blob with it
    assert len(found) == 18
    assert all(early.tally is not None and early.tally.attempts == 1 and early.marker is None for early in found)
    assert all(early.details == {} for early in found)
    if with_blobs:
        assert all(len(early.blobs) == 1 + i % 2 for i, early in enumerate(_firsts(found)))


def _firsts(found: list[attempts.Early]) -> list[attempts.Early]:
    """One Early per batch: the batch's events share its blobs."""
    out, i = [], 0
    for call in range(CALLS):
        out.append(found[i])
        i += 1 + call % 2
    return out
