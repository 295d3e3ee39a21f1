"""The hot write statements keep one plan (issue 18, session 8).

PostgreSQL plans a prepared statement afresh on each call while the plan it would keep looks
dearer than one made for the values at hand. A blob link that unnested an array and looked each
element up looked ten times dearer kept than planned for one blob, so intake's statement (and a
stage's that links a blob intake stored) was planned on every call: 0.18-0.26 ms of the
database's CPU each time. Counted on a real PostgreSQL (pg_stat_statements), one connection:
its first five calls are planned for their values, then the kept plan serves.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.blobs import PostgresBlobStore
from mailintake_common.db import unit_of_work
from mailintake_common.events import DocumentReceivedV1, ReceivedPart, new_event
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import document_blobs
from mailintake_intake.adapters.submissions import PartIn, Submission, store_submission
from tests.support.statements import planned_during, warmed_engine

pytestmark = pytest.mark.slow

CALLS = 12
KEPT_AFTER = 6  # five plans for the values at hand, then the kept one


@pytest.fixture
async def engine(counting_database: str) -> AsyncIterator[AsyncEngine]:
    one_connection = CommonSettings(database_url=counting_database, db_pool_size=1)  # one plan cache
    async with warmed_engine(one_connection) as engine:
        yield engine


def the_write(planned: dict[str, tuple[int, int]], opening: str) -> tuple[int, int]:
    found = [counts for query, counts in planned.items() if query.startswith(opening)]
    assert len(found) == 1, list(planned)
    return found[0]


async def test_intakes_one_statement_is_not_planned_on_every_submission(
    counting_database: str, engine: AsyncEngine
) -> None:
    async def submit() -> None:
        for i in range(CALLS):
            letter = f"Hello, my payment did not arrive this fortnight ({i}, {uuid.uuid4().hex}).".encode()
            await store_submission(
                engine, Submission(channel="email", parts=[PartIn("raw_email", letter, "message/rfc822")])
            )

    calls, plans = the_write(await planned_during(counting_database, submit), "WITH w0 AS (INSERT INTO blobs")
    assert calls == CALLS
    assert plans <= KEPT_AFTER


async def test_a_stage_linking_a_blob_stored_before_is_not_planned_on_every_event(
    counting_database: str, engine: AsyncEngine
) -> None:
    async with unit_of_work(engine) as uow:  # what intake stored earlier
        ref = await PostgresBlobStore(uow.conn).put(b"Please find my new address below.", "text/plain")
    documents = [uuid.uuid4().hex for _ in range(CALLS)]

    async def link() -> None:
        for document_id in documents:
            async with unit_of_work(engine) as uow:
                await uow.documents.create(document_id, channel="webform", received_at=datetime.now(UTC))
                part = ReceivedPart(part_id="p0", role="form_fields", blob=ref)
                payload = DocumentReceivedV1(channel="webform", received_at=datetime.now(UTC), parts=[part])
                await uow.outbox.add("test.plans", new_event(document_id, payload))

    calls, plans = the_write(await planned_during(counting_database, link), "WITH w0 AS (INSERT INTO documents")
    assert calls == CALLS
    assert plans <= KEPT_AFTER
    async with engine.connect() as conn:
        linked = select(func.count()).where(
            document_blobs.c.document_id.in_(documents), document_blobs.c.sha256 == ref.sha256
        )
        assert (await conn.execute(linked)).scalar_one() == CALLS
