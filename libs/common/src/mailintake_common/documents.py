"""The document record every stage advances: status, stage results and the timeline.

Status only moves forward (received -> screened -> classified -> routed); a redelivered
or reconciled event can never move a document back. `failed` is set by the consumer
runner when a stage gives up on a document; it is not final (issue 16): a retry or a DLQ
replay puts the document back at the failed stage's input (`resume`), and a stage that then
succeeds moves it on.

RACS (issue 15): a document's level is "not yet known" (NULL) from the moment the classifier
has read it (its identifiers and at-risk passages are stored) until routing looks its customers
up in the directory; a failed document is not yet known either. Not yet known is visible only
to racs:3, everywhere a document, its timeline or anything listing it is read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any, get_args

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    bindparam,
    case,
    func,
    null,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Update, UpdateBase

from mailintake_common.events import DocumentStatus
from mailintake_common.tables import documents, timeline
from mailintake_common.writes import Condition, Kind, Writes, one_per_row, rows_insert

STATUS_ORDER: dict[DocumentStatus, int] = {status: rank for rank, status in enumerate(get_args(DocumentStatus))}
# Which stage result column each status fills.
RESULT_COLUMN: dict[DocumentStatus, str] = {
    "screened": "screening",
    "classified": "classification",
    "routed": "routing",
}
# Moving to these statuses makes the level "not yet known" unless routing gives one.
UNKNOWN_LEVEL_STATUSES: frozenset[DocumentStatus] = frozenset({"classified", "failed"})
# A level not yet known counts as the highest: only racs:3 may see the document.
UNKNOWN_RACS_LEVEL = 3


def effective_racs_level(level: int | None) -> int:
    """The level a reader must hold for a document: not yet known (None) is the highest."""
    return UNKNOWN_RACS_LEVEL if level is None else level


def document_racs_level() -> ColumnElement[int]:
    """SQL for `effective_racs_level` over documents.racs_level, for listings and counts."""
    return func.coalesce(documents.c.racs_level, UNKNOWN_RACS_LEVEL)


class DocumentRepository:
    """With `writes` (a unit of work's), the write-only statements (`create`, `add_timeline`,
    `advance_later`) wait for the unit's one write statement before COMMIT (issue 18)."""

    def __init__(self, conn: AsyncConnection, writes: Writes | None = None) -> None:
        self._conn = conn
        self._writes = writes

    async def create(
        self,
        document_id: str,
        *,
        channel: str,
        received_at: datetime,
        mailbox: str | None = None,
        form_type: str | None = None,
    ) -> None:
        row = {
            "document_id": document_id,
            "channel": channel,
            "mailbox": mailbox,
            "form_type": form_type,
            "status": "received",
            "received_at": received_at,
        }
        if self._writes is not None:
            await self._writes.add(self._conn, NEW_DOCUMENTS, row)
        else:
            await self._conn.execute(documents.insert().values(row))

    async def get(self, document_id: str) -> dict[str, Any] | None:
        row = (
            (await self._conn.execute(select(documents).where(documents.c.document_id == document_id)))
            .mappings()
            .first()
        )
        return dict(row) if row else None

    async def timeline(self, document_id: str) -> list[dict[str, Any]]:
        rows = await self._conn.execute(
            select(timeline.c.stage, timeline.c.at, timeline.c.outcome, timeline.c.reasons)
            .where(timeline.c.document_id == document_id)
            .order_by(timeline.c.id)
        )
        return [dict(r) for r in rows.mappings()]

    async def add_timeline(self, document_id: str, stage: str, outcome: str, reasons: list[str] | None = None) -> None:
        row = {
            "document_id": document_id,
            "stage": stage,
            "outcome": outcome,
            "reasons": list(reasons or []),
            "at": datetime.now(UTC),
        }
        if self._writes is not None:
            await self._writes.add(self._conn, TIMELINE_ROWS, row)
        else:
            await self._conn.execute(timeline.insert().values(row))

    async def advance(
        self,
        document_id: str,
        status: DocumentStatus,
        *,
        result: dict[str, Any] | None = None,
        racs_level: int | None = None,
    ) -> bool:
        """Record a stage's result and move the status forward; never backwards.

        The result column is written even when the status does not move (a re-routed
        document keeps `routed` but gets the new routing). Moving to `classified` or `failed`
        without a level makes the level not yet known (NULL); a redelivered event that does
        not move the status leaves the level alone. Returns whether the row exists.
        """
        shape, params = _advance_of(document_id, status, result, racs_level)
        return (await self._conn.execute(_advance_statement(*shape), params)).first() is not None

    async def advance_later(
        self,
        document_id: str,
        status: DocumentStatus,
        *,
        result: dict[str, Any] | None = None,
        racs_level: int | None = None,
    ) -> None:
        """`advance` when the caller does not need to know whether the row exists: with the unit
        of work's `writes`, it goes in the unit's one write statement (issue 18)."""
        if self._writes is None:
            await self.advance(document_id, status, result=result, racs_level=racs_level)
            return
        shape, params = _advance_of(document_id, status, result, racs_level)
        await self._writes.add(self._conn, _advance_kind(*shape), params, key=("status", document_id), replaces=False)

    async def resume(self, document_id: str, status: DocumentStatus) -> None:
        """Put a failed document back at a stage's input status (retry, DLQ replay)."""
        await self._conn.execute(
            update(documents)
            .where(documents.c.document_id == document_id, documents.c.status == "failed")
            .values(status=status, updated_at=func.now(), reconciled_at=None, reconcile_count=0)
        )

    async def failed(self, limit: int, after: tuple[datetime, str] | None, max_racs: int) -> list[dict[str, Any]]:
        """Failed documents, oldest failure first, each with its last failed stage and reasons."""
        failure = (
            select(timeline.c.stage, timeline.c.reasons, timeline.c.at)
            .where(timeline.c.document_id == documents.c.document_id, timeline.c.outcome == "failed")
            .order_by(timeline.c.id.desc())
            .limit(1)
            .lateral()
        )
        query = (
            select(
                documents.c.document_id,
                documents.c.channel,
                documents.c.received_at,
                documents.c.updated_at,
                failure.c.stage,
                failure.c.reasons,
                failure.c.at.label("failed_at"),
            )
            .select_from(documents.outerjoin(failure, true()))
            .where(documents.c.status == "failed", document_racs_level() <= max_racs)
            .order_by(documents.c.updated_at, documents.c.document_id)
            .limit(limit)
        )
        if after:
            query = query.where(tuple_(documents.c.updated_at, documents.c.document_id) > tuple_(*after))
        return [dict(r) for r in (await self._conn.execute(query)).mappings()]


NEW_DOCUMENTS = rows_insert(
    "document", documents, ("document_id", "channel", "mailbox", "form_type", "status", "received_at")
)
TIMELINE_ROWS = rows_insert("timeline", timeline, ("document_id", "stage", "outcome", "reasons", "at"))


def _advance_of(
    document_id: str, status: DocumentStatus, result: dict[str, Any] | None, racs_level: int | None
) -> tuple[tuple[str | None, bool, bool], dict[str, Any]]:
    """The shape of `advance`'s statement and its parameters."""
    column = RESULT_COLUMN.get(status) if result is not None else None
    reset_level = racs_level is None and status in UNKNOWN_LEVEL_STATUSES
    params: dict[str, Any] = {"the_document": document_id, "new_status": status, "rank": STATUS_ORDER[status]}
    if column:
        params["new_result"] = result
    if racs_level is not None:
        params["new_level"] = racs_level
    return (column, racs_level is not None, reset_level), params


@cache
def _advance_kind(column: str | None, sets_level: bool, resets_level: bool) -> Kind:
    name = f"advance_{column or 'none'}_{int(sets_level)}{int(resets_level)}_"

    def statement(prefix: str, condition: Condition | None) -> UpdateBase:
        moves = _advance_statement(column, sets_level, resets_level, prefix)
        return moves if condition is None else moves.where(condition)

    return one_per_row(name, statement)


@cache
def _advance_statement(column: str | None, sets_level: bool, resets_level: bool, prefix: str = "") -> Update:
    """`advance` as one UPDATE, built once per shape (issue 18): it locks the row and decides on
    the status it finds, so it needs no SELECT ... FOR UPDATE before it. `prefix` names its
    parameters apart from the others' in a unit's one write statement."""
    current = documents.c.status
    rank = bindparam(f"{prefix}rank", type_=Integer)
    moves = or_(current == "failed", case(STATUS_ORDER, value=current, else_=-1) < rank)
    values: dict[str, Any] = {
        "updated_at": func.now(),
        "status": case(
            (moves, bindparam(f"{prefix}new_status", type_=String)), else_=current
        ),  # a stage that ran again un-fails it
    }
    if column:
        values[column] = bindparam(f"{prefix}new_result", type_=documents.c[column].type)
    if sets_level:
        values["racs_level"] = bindparam(f"{prefix}new_level", type_=Integer)
    elif resets_level:
        values["racs_level"] = case((moves, null()), else_=documents.c.racs_level)
    return (
        update(documents)
        .where(documents.c.document_id == bindparam(f"{prefix}the_document", type_=String))
        .values(values)
        .returning(documents.c.document_id)
    )
