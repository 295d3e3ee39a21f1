"""Intake stores a submission in as few statements as it can (issue 18), all or nothing.

Without an idempotency key nothing needs reading: the document, its blobs and their links, the
timeline, its details and the `received` event are one autocommitted statement. With a key, the
key is claimed first (a resubmission must find the first document): BEGIN, the claim, the
writes, COMMIT; and a resubmission writes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.settings import CommonSettings
from mailintake_common.tables import blobs, document_blobs, documents, outbox, received_details, timeline
from mailintake_intake.adapters.submissions import PartIn, Stored, Submission, store_submission
from tests.support.statements import by_kind, statements_during, warmed_engine

pytestmark = pytest.mark.slow

LETTER = b"""From: a.customer@example.net
To: enquiries@agency.example
Subject: change of bank details

Hi, please pay my child support into my new account from next month. Thanks.
"""
PAYSLIP = b"%PDF-1.4 a payslip for the fortnight ending last Friday"


@pytest.fixture
async def engine(counting_database: str) -> AsyncIterator[AsyncEngine]:
    async with warmed_engine(CommonSettings(database_url=counting_database)) as engine:
        yield engine


def submission(key: str | None = None, *, extra: bytes = b"") -> Submission:
    return Submission(
        channel="email",
        mailbox="edc",
        idempotency_key=key,
        parts=[
            PartIn("raw_email", LETTER + extra, "message/rfc822"),
            PartIn("attachment", PAYSLIP + extra, "application/pdf", filename="payslip.pdf"),
        ],
    )


async def stored_rows(engine: AsyncEngine, document_id: str) -> dict[str, int]:
    async with engine.connect() as conn:

        async def count(table, column) -> int:
            return int((await conn.execute(select(func.count()).where(column == document_id))).scalar_one())

        return {
            "documents": await count(documents, documents.c.document_id),
            "timeline": await count(timeline, timeline.c.document_id),
            "details": await count(received_details, received_details.c.document_id),
            "links": await count(document_blobs, document_blobs.c.document_id),
            "outbox": await count(outbox, outbox.c.document_id),
        }


async def test_a_submission_without_a_key_is_one_statement(counting_database: str, engine: AsyncEngine) -> None:
    stored: list[Stored] = []

    async def store() -> None:
        stored.append(await store_submission(engine, submission(extra=b"no key")))

    counted = await statements_during(counting_database, store)
    assert by_kind(counted) == {"WITH": 1}, counted  # before issue 18: eleven
    assert await stored_rows(engine, stored[0].document_id) == {
        "documents": 1,
        "timeline": 1,
        "details": 1,
        "links": 2,
        "outbox": 1,
    }
    async with engine.connect() as conn:
        shas = select(document_blobs.c.sha256).where(document_blobs.c.document_id == stored[0].document_id)
        contents = (await conn.execute(select(blobs.c.content).where(blobs.c.sha256.in_(shas)))).scalars()
        assert sorted(bytes(c) for c in contents) == sorted([LETTER + b"no key", PAYSLIP + b"no key"])


async def test_a_submission_with_a_key_claims_it_first_and_a_resubmission_writes_nothing(
    counting_database: str, engine: AsyncEngine
) -> None:
    stored: list[Stored] = []

    async def store() -> None:
        stored.append(await store_submission(engine, submission("the-same-letter-twice", extra=b"keyed")))

    counted = await statements_during(counting_database, store)
    assert by_kind(counted) == {"BEGIN": 1, "INSERT": 1, "WITH": 1, "COMMIT": 1}, counted
    again = await statements_during(counting_database, store)
    assert stored[1] == Stored(stored[0].document_id, created=False, status="received")
    assert by_kind(again) == {"BEGIN": 1, "INSERT": 1, "SELECT": 1, "COMMIT": 1}, again
    assert (await stored_rows(engine, stored[0].document_id))["outbox"] == 1
