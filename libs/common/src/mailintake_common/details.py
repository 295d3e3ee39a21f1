"""Personal details stay in the database (issue 15): what a v2 event leaves out, and where it is.

A stage that announces a document writes the details it decided on (filenames, the email's
addresses and subject, findings' places, identifiers, names, dates of birth, passages) to its
own table, in the same unit of work as its v2 event; the next stage reads them back from there
and joins them with the event into the whole v1 model it always decided on. Each table has one
writer, the service that produces the details:

| table | written by | read by |
|---|---|---|
| `received_details` | intake | quarantine |
| `screening_details` | quarantine | classifier |
| `classification_details` | classifier | routing |

Rows are keyed by document: a re-screen (release) or re-classification (retry) replaces the
row with the event it sends, and a republished or replayed event finds the details of the last
time the stage ran. `split_*` and `join_*` are pure; `keep` and `read` do the I/O.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Table, func, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.events import (
    AtRiskAlertV2,
    AtRiskMatch,
    ClearedPart,
    ClearedPartRef,
    DocumentClassifiedV1,
    DocumentClassifiedV2,
    DocumentReceivedV1,
    DocumentReceivedV2,
    DocumentScreenedV1,
    DocumentScreenedV2,
    EmailFacts,
    Finding,
    Identifiers,
    PersonMention,
    ReceivedPart,
    ReceivedPartRef,
)
from mailintake_common.failures import PermanentError
from mailintake_common.tables import classification_details, received_details, screening_details
from mailintake_common.writes import Writes, rows_insert


class _Details(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


Details = _Details  # any stage's details (a subscription names the kind its handler reads)


class ReceivedDetails(_Details):
    filenames: list[str | None] = []  # one per part, in the event's order


class PartNames(_Details):
    filename: str | None = None
    source: str | None = None


class ScreeningDetails(_Details):
    findings: list[Finding] = []
    parts: list[PartNames] = []  # one per cleared part, in the event's order
    email: EmailFacts | None = None


class ClassificationDetails(_Details):
    findings: list[Finding] = []
    email: EmailFacts | None = None
    at_risk_matches: list[AtRiskMatch] = []
    unchecked: list[str] = []
    identifiers: Identifiers = Identifiers()
    people: list[PersonMention] = []
    writers: list[PersonMention] = []
    organisation_names: list[str] = []


class DetailsMissing(LookupError):
    """A v2 event whose producer's details are not in the database (removed by hand, or a
    database restored to before the event): it cannot be decided on, so it is dead-lettered."""


# -- pure: split a whole payload into its event and details, and join them again --------------


def _common(model: BaseModel, into: type[BaseModel]) -> dict[str, Any]:
    return {name: getattr(model, name) for name in _shared_fields(type(model), into)}


@cache
def _shared_fields(of: type[BaseModel], into: type[BaseModel]) -> tuple[str, ...]:
    """`into`'s fields that `of` has too, in `into`'s order: once per pair of models (issue 18:
    pydantic's `model_fields` is a property, asked per field it cost a split 15 us of its 28)."""
    return tuple(name for name in into.model_fields if name in of.model_fields)


def split_received(whole: DocumentReceivedV1) -> tuple[DocumentReceivedV2, ReceivedDetails]:
    parts = [ReceivedPartRef(**_common(p, ReceivedPartRef)) for p in whole.parts]
    event = DocumentReceivedV2(**{**_common(whole, DocumentReceivedV2), "parts": parts})
    return event, ReceivedDetails(filenames=[p.filename for p in whole.parts])


def join_received(event: DocumentReceivedV2, details: ReceivedDetails) -> DocumentReceivedV1:
    names = _aligned(details.filenames, len(event.parts))
    parts = [ReceivedPart(**p.model_dump(), filename=name) for p, name in zip(event.parts, names, strict=True)]
    return DocumentReceivedV1(**{**_common(event, DocumentReceivedV1), "parts": parts})


def split_screened(whole: DocumentScreenedV1) -> tuple[DocumentScreenedV2, ScreeningDetails]:
    event = DocumentScreenedV2(
        **{
            **_common(whole, DocumentScreenedV2),
            "rules": list(dict.fromkeys(f.rule for f in whole.findings)),
            "cleared_parts": [ClearedPartRef(**_common(p, ClearedPartRef)) for p in whole.cleared_parts],
        }
    )
    names = [PartNames(filename=p.filename, source=p.source) for p in whole.cleared_parts]
    return event, ScreeningDetails(findings=whole.findings, parts=names, email=whole.email)


def join_screened(event: DocumentScreenedV2, details: ScreeningDetails) -> DocumentScreenedV1:
    names = _aligned(details.parts, len(event.cleared_parts), PartNames())
    parts = [
        ClearedPart(**p.model_dump(), filename=n.filename, source=n.source)
        for p, n in zip(event.cleared_parts, names, strict=True)
    ]
    whole = {**_common(event, DocumentScreenedV1), "cleared_parts": parts}
    return DocumentScreenedV1(**whole, findings=details.findings, email=details.email)


def split_classified(whole: DocumentClassifiedV1) -> tuple[DocumentClassifiedV2, ClassificationDetails]:
    event = DocumentClassifiedV2(
        **_common(whole, DocumentClassifiedV2),
        at_risk_categories=sorted({m.category for m in whole.at_risk_matches}),
        unchecked_parts=len(whole.unchecked),
    )
    return event, ClassificationDetails(**_common(whole, ClassificationDetails))


def join_classified(event: DocumentClassifiedV2, details: ClassificationDetails) -> DocumentClassifiedV1:
    return DocumentClassifiedV1(**_common(event, DocumentClassifiedV1), **_common(details, DocumentClassifiedV1))


T = TypeVar("T")


def _aligned(values: list[T], count: int, missing: Any = None) -> list[T]:
    """The details' list cut or padded to the event's (they are written together, so equal)."""
    return [*values[:count], *[missing] * max(0, count - len(values))]


# Positions a part label may start with; the rest of a label (filenames, sheet names) is left out.
POSITION_WORDS = frozenset(
    {"subject", "body", "attachment", "attached", "email", "scan", "form", "fields", "member", "page"}
)


def part_position(label: str | None) -> str:
    """Where a match is, by position only: "attachment 2 Smith payslip.pdf / page 1" -> "attachment 2".

    Words are kept from the start, up to a comma ("form fields, field message"), while they are
    position words, each followed by at most one small number; the first other word (a filename,
    a sheet name, a long number) ends the label, so nothing a sender chose is ever kept.
    """
    kept: list[str] = []
    for word in (label or "").split(",")[0].split():
        numbered = word.isdigit() and len(word) <= 3 and bool(kept) and not kept[-1].isdigit()
        if word.lower() not in POSITION_WORDS and not numbered:
            break
        kept.append(word.lower())
    return " ".join(kept) or "part"


def alert_event(
    alert_id: str,
    queue: str,
    customer_ids: list[str],
    categories: list[str],
    matches: list[AtRiskMatch],
    detector: str | None,
) -> AtRiskAlertV2:
    """The alert as announced: categories, positions and ids, never the passages."""
    return AtRiskAlertV2(
        alert_id=alert_id,
        queue=queue,
        customer_ids=customer_ids,
        categories=categories,
        parts=list(dict.fromkeys(part_position(m.part) for m in matches)),
        detector=detector,
    )


# -- I/O: each producer keeps its details beside its event; the consumer reads them -------------

D = TypeVar("D", bound=_Details)
TABLE_OF: dict[type[_Details], Table] = {
    ReceivedDetails: received_details,
    ScreeningDetails: screening_details,
    ClassificationDetails: classification_details,
}


async def keep(conn: AsyncConnection, document_id: str, details: _Details, writes: Writes | None = None) -> None:
    """Write (or replace) the document's details, in the caller's transaction; with `writes` (a
    unit of work's), in the unit's one write statement before COMMIT (issue 18)."""
    table = TABLE_OF[type(details)]
    row = {"document_id": document_id, "details": details.model_dump(mode="json")}
    if writes is not None:
        await writes.add(conn, _KEEP[table.name], row, key=(table.name, document_id))
    else:
        await conn.execute(_replacing(insert(table).values(row)))


def _replacing(statement: Insert) -> Insert:
    return statement.on_conflict_do_update(
        index_elements=["document_id"], set_={"details": statement.excluded.details, "updated_at": func.now()}
    )


_KEEP = {
    table.name: rows_insert(table.name, table, ("document_id", "details"), _replacing) for table in TABLE_OF.values()
}


async def read(conn: AsyncConnection, document_id: str, kind: type[D]) -> D:
    """The document's details of this kind, or raise DetailsMissing."""
    table = TABLE_OF[kind]
    row = (await conn.execute(select(table.c.details).where(table.c.document_id == document_id))).first()
    if row is None:
        raise DetailsMissing(kind.__name__)
    return kind.model_validate(row.details)


async def whole_received(
    conn: AsyncConnection, document_id: str, payload: DocumentReceivedV1 | DocumentReceivedV2
) -> DocumentReceivedV1:
    """What intake received, with its details (a v1 event already carries them)."""
    if isinstance(payload, DocumentReceivedV1):
        return payload
    return join_received(payload, await _required(conn, document_id, ReceivedDetails))


async def whole_screened(
    conn: AsyncConnection, document_id: str, payload: DocumentScreenedV1 | DocumentScreenedV2
) -> DocumentScreenedV1:
    if isinstance(payload, DocumentScreenedV1):
        return payload
    return join_screened(payload, await _required(conn, document_id, ScreeningDetails))


async def whole_classified(
    conn: AsyncConnection, document_id: str, payload: DocumentClassifiedV1 | DocumentClassifiedV2
) -> DocumentClassifiedV1:
    if isinstance(payload, DocumentClassifiedV1):
        return payload
    return join_classified(payload, await _required(conn, document_id, ClassificationDetails))


async def _required(conn: AsyncConnection, document_id: str, kind: type[D]) -> D:
    """The details a v2 event needs: missing, the event can never be decided on (PermanentError)."""
    try:
        return await read(conn, document_id, kind)
    except DetailsMissing:
        raise PermanentError(f"the document's {kind.__name__} are missing from the database") from None
