"""Intake stores a submission in as few statements as it can (issue 18), all or nothing.

Without an idempotency key nothing needs reading: the document, its blobs and their links, the
timeline, its details and the `received` event are one autocommitted statement. With a key, the
claim of the key goes in the same statement and the writes happen only if it inserted the key
(before session 9: BEGIN, the claim, the writes, COMMIT); a resubmission's statement writes
nothing, and the first document is then read.
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


async def test_a_submission_with_a_key_claims_it_with_the_writes_and_a_resubmission_writes_nothing(
    counting_database: str, engine: AsyncEngine
) -> None:
    stored: list[Stored] = []

    async def store() -> None:
        stored.append(await store_submission(engine, submission("the-same-letter-twice", extra=b"keyed")))

    counted = await statements_during(counting_database, store)
    assert by_kind(counted) == {"WITH": 1}, counted  # session 8: BEGIN, INSERT, WITH, COMMIT
    again = await statements_during(counting_database, store)
    assert stored[1] == Stored(stored[0].document_id, created=False, status="received")
    assert by_kind(again) == {"WITH": 1, "SELECT": 1}, again
    assert await stored_rows(engine, stored[0].document_id) == {
        "documents": 1,
        "timeline": 1,
        "details": 1,
        "links": 2,
        "outbox": 1,
    }


async def test_a_resubmission_larger_than_a_chunk_is_refused_before_its_content_is_written(
    counting_database: str,
) -> None:
    """A part over the blob chunk is written at once, before the unit's statement: the claim goes
    just before it, in the transaction it begins, and a taken key stops it there."""
    settings = CommonSettings(database_url=counting_database, blob_chunk_bytes=64)
    async with warmed_engine(settings) as small_chunks:
        first = await store_submission(small_chunks, submission("a-long-letter-sent-twice", extra=b"first"))
        again = submission("a-long-letter-sent-twice", extra=b" and the second copy, a little longer than the first")
        second = await store_submission(small_chunks, again)
        assert second == Stored(first.document_id, created=False, status="received")
        assert await stored_rows(small_chunks, first.document_id) == {
            "documents": 1,
            "timeline": 1,
            "details": 1,
            "links": 2,
            "outbox": 1,
        }
        async with small_chunks.connect() as conn:
            contents = (await conn.execute(select(blobs.c.content))).scalars().all()
        assert not any(bytes(c).endswith(b"a little longer than the first") for c in contents if c is not None)
