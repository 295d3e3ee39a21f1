"""A waiting item's classified payload is stored as JSON text encoded once (issue 18, session 12).

Routing dumped the payload to Python values (`model_dump(mode="json")`) and SQLAlchemy encoded
those again with `json.dumps`; now pydantic encodes it once (`model_dump_json`) and the column
(`tables.EncodedJSONB`) takes the text as it is. Checked on a real PostgreSQL over varied payloads
(fractions, tiny and whole floats, times with microseconds, non-ASCII names, quotes, backslashes
and newlines, empty and missing values): the stored JSONB is the one the old encoding stored, to
the text, through the unit's write statement and on its own, and reads back as the same payload
(what a directory change decides again on, `commands.identify_again`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.events import (
    AtRiskMatch,
    DocumentClassifiedV1,
    EmailFacts,
    Finding,
    Identifiers,
    PageQuality,
    PersonMention,
)
from mailintake_common.writes import Writes
from mailintake_routing.adapters import awaiting
from mailintake_routing.domain.identify import Clues
from mailintake_routing.settings import RoutingSettings
from tests.support.statements import warmed_engine

pytestmark = pytest.mark.slow

RECEIVED = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def _payloads() -> list[DocumentClassifiedV1]:
    plain = DocumentClassifiedV1(channel="webform", received_at=RECEIVED, verdict="clear")
    email = DocumentClassifiedV1(
        channel="email",
        mailbox="edc",
        received_at=RECEIVED.astimezone(timezone(timedelta(hours=10))),
        verdict="clear",
        document_type="change_of_circumstances",
        confidence=1 / 3,
        type_reasons=['subject says "new job"', "back\\slash", "line\nbreak\ttab"],
        ocr_confidence=1e-7,
        pages=[PageQuality(part_id="p1", page=1, ocr_confidence=100.0), PageQuality(part_id="p2", page=2)],
        findings=[Finding(part="attachment 1", rule="macro", detail="Zoë's “quoted” file ✓")],
        email=EmailFacts(
            from_address="Zoë.Núñez@example.net", to_addresses=["edc@example.gov.au"], subject="日本語 🙂"
        ),
        at_risk_matches=[AtRiskMatch(category="self_harm", phrase="ça ne va pas", offset=12345, part="body 1")],
        identifiers=Identifiers(crn=["123456789K"], emails=["zoe@example.net"]),
        people=[PersonMention(given_name="Zoë", family_name="O'Brien", date_of_birth="1980-02-29")],
        writers=[PersonMention(given_name="Åsa", family_name="Ødegård", role="signatory", covering=False)],
        organisation_names=["Smith & Sons \\ Pty"],
        content_sha256="ab" * 32,
        deductions=[],
    )
    whole_numbers = plain.model_copy(update={"confidence": 2.0, "ocr_confidence": 0.1 + 0.2, "priority": True})
    return [plain, email, whole_numbers]


@pytest.fixture
async def engine(counting_database: str) -> AsyncIterator[AsyncEngine]:
    async with warmed_engine(RoutingSettings(database_url=counting_database)) as engine:
        yield engine


async def test_a_waiting_payload_is_stored_as_the_old_encoding_stored_it_and_reads_back_the_same(
    engine: AsyncEngine,
) -> None:
    for n, payload in enumerate(_payloads()):
        old = json.dumps(payload.model_dump(mode="json"))  # what SQLAlchemy's JSONB sent before
        new = payload.model_dump_json()
        clues = Clues(sender="zoe@example.net")
        async with engine.connect() as conn:
            writes = Writes()
            await awaiting.remember(conn, f"batched-{n}", "q", clues, new, writes)  # in the write statement
            await writes.flush(conn)
            await awaiting.remember(conn, f"alone-{n}", "q", clues, new)  # on its own
            await conn.commit()
            stored = await conn.execute(
                text(
                    "SELECT document_id, classified = CAST(:old AS JSONB), CAST(classified AS TEXT),"
                    " CAST(CAST(:old AS JSONB) AS TEXT) FROM awaiting_identity WHERE document_id IN (:a, :b)"
                ),
                {"old": old, "a": f"batched-{n}", "b": f"alone-{n}"},
            )
            rows = stored.all()
            assert len(rows) == 2
            for document_id, same, as_stored, as_old in rows:
                assert same and as_stored == as_old, (document_id, as_stored, as_old)
            found = await awaiting.matching_customers(conn, [{"crn": "none", "emails": ["zoe@example.net"]}])
            read = {r["document_id"]: r["classified"] for r in found}
            assert DocumentClassifiedV1.model_validate(read[f"batched-{n}"]) == payload
            assert DocumentClassifiedV1.model_validate(read[f"alone-{n}"]) == payload
            await conn.execute(text("DELETE FROM awaiting_identity"))
            await conn.commit()
