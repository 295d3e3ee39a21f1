"""Quarantine's handler: screen a received item, record the verdict, announce it.

Slow work (reading blobs, walking MIME and archives) happens before the unit of work; the
screening itself runs in a supervised worker process with memory and time limits
(`screening_pool`, issue 15), so a file that exhausts either takes down a worker, not the
service. Large parts reach the worker as files of the item's spool and large cleared parts
come back the same way (`adapters/spooled.py`, issue 17): the service never holds a scan
whole. Then one transaction stores the cleared parts, the verdict, the hold and the
`screened` event. Filenames come from intake's details and the findings' places, the cleared
parts' names and the email's header facts go to quarantine's (`mailintake_common.details`):
the v2 event carries none of them (issue 15).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import details
from mailintake_common import observability as obs
from mailintake_common.blobs import BlobNotFound, reader
from mailintake_common.consumer import HandlerContext, PermanentError
from mailintake_common.db import UnitOfWork, reading
from mailintake_common.events import (
    TOPIC_SCREENED,
    BlobRef,
    ClearedPart,
    DocumentReceivedV1,
    DocumentReceivedV2,
    DocumentScreenedV1,
    Envelope,
    Finding,
    new_event,
)
from mailintake_common.handler_context import reads_blobs, reads_details
from mailintake_common.spool import Spool, spool
from mailintake_common.workers import SupervisedPool
from mailintake_quarantine.adapters import holds
from mailintake_quarantine.adapters.spooled import (
    ClearedContent,
    SameAsInput,
    Screened,
    SpooledPart,
    screen_spooled,
    warm_up,
)
from mailintake_quarantine.domain.findings import reasons_of
from mailintake_quarantine.domain.rules import Limits
from mailintake_quarantine.domain.screening import opens_nothing
from mailintake_quarantine.settings import QuarantineSettings

log = logging.getLogger(__name__)


def limits_from(settings: QuarantineSettings) -> Limits:
    return Limits(
        email_bytes=settings.email_limit_bytes,
        attachment_bytes=settings.attachment_limit_bytes,
        max_depth=settings.archive_max_depth,
        max_files=settings.archive_max_files,
        max_total_bytes=settings.archive_max_total_bytes,
        max_ratio=settings.archive_max_ratio,
        image_max_pixels=settings.image_max_pixels,
        max_member_bytes=settings.archive_max_member_bytes,
    )


async def load_parts(engine: AsyncEngine, received: DocumentReceivedV1, spool: Spool) -> list[SpooledPart]:
    """Every received part, small ones as bytes, large ones streamed into `spool`."""
    async with reader(engine) as store:  # a connection only for a blob the check-in did not bring
        try:
            return [
                SpooledPart(p.part_id, p.role, await spool.fetch(store, p.blob), p.filename, p.declared_type)
                for p in received.parts
            ]
        except BlobNotFound:
            raise PermanentError("a part's content is missing from the blob store") from None


def screening_pool(settings: QuarantineSettings) -> SupervisedPool:
    size, memory = settings.screening_pool_size(), settings.screening_memory_bytes
    return SupervisedPool("quarantine", size, memory, initializer=warm_up)


async def screen(
    engine: AsyncEngine,
    settings: QuarantineSettings,
    received: DocumentReceivedV1,
    pool: SupervisedPool,
    spool: Spool,
    *,
    waive_size: bool = False,
) -> Screened:
    """Screen in a worker; large cleared content is left in `spool` for `record` to store."""
    parts = await load_parts(engine, received, spool)
    limits = limits_from(settings)
    if opens_nothing(parts):  # form fields only: the round trip would cost more than the screening
        return screen_spooled(parts, limits, waive_size, spool.plan)
    return await pool.run(screen_spooled, parts, limits, waive_size, spool.plan, timeout_s=settings.screening_timeout_s)


async def store_cleared(
    uow: UnitOfWork, received: DocumentReceivedV1, content: ClearedContent, media_type: str
) -> BlobRef:
    """The cleared content's blob: a received part's own blob when it is the same bytes, else stored
    (a spool file streamed to the store a chunk at a time)."""
    if isinstance(content, SameAsInput):
        blob = received.parts[content.index].blob
        return BlobRef(sha256=blob.sha256, size=blob.size, media_type=media_type)
    if content.path is None:
        return await uow.blobs.put(content.read(), media_type)
    with open(content.path, "rb") as file:
        return await uow.blobs.put_file(file, media_type)


async def record(
    uow: UnitOfWork,
    document_id: str,
    received: DocumentReceivedV1,
    screened: Screened,
    trace_id: str | None,
    note: str | None = None,
) -> None:
    """Store cleared parts, verdict, hold and timeline, and add the `screened` event."""
    result = screened.screening
    cleared = []
    for part, content in zip(result.cleared, screened.contents, strict=True):
        ref = await store_cleared(uow, received, content, part.media_type)
        cleared.append(
            ClearedPart(
                part_id=part.part_id,
                kind=part.kind,
                filename=part.filename,
                media_type=part.media_type,
                blob=ref,
                source=part.source,
            )
        )
    findings = [f.as_dict() for f in result.findings]
    reasons = reasons_of(result.findings)
    await uow.documents.advance_later(document_id, "screened", result={"verdict": result.verdict, "findings": findings})
    timeline_reasons = ([note] if note else []) + [f"{f.rule}: {f.detail}" for f in result.findings][:20]
    await uow.documents.add_timeline(document_id, "quarantine", result.verdict, timeline_reasons or ["no findings"])
    if result.verdict != "clear":
        await holds.hold(uow.conn, document_id, result.verdict, reasons, findings, received.model_dump(mode="json"))
    payload = DocumentScreenedV1(
        channel=received.channel,
        received_at=received.received_at,
        mailbox=received.mailbox,
        form_type=received.form_type,
        verdict=result.verdict,
        findings=[Finding(**f) for f in findings],
        cleared_parts=cleared,
        email=result.email,
    )
    event, kept = details.split_screened(payload)
    await details.keep(uow.conn, document_id, kept, uow.writes)
    await uow.outbox.add(TOPIC_SCREENED, new_event(document_id, event), trace_id=trace_id)


async def received_in_full(
    engine: AsyncEngine,
    document_id: str,
    payload: DocumentReceivedV1 | DocumentReceivedV2,
    known: details.ReceivedDetails | None = None,
) -> DocumentReceivedV1:
    """The received event joined with the filenames intake kept (issue 15); `known`: as fetched
    with the event's check-in (issue 18), so nothing is read."""
    if known is not None and isinstance(payload, DocumentReceivedV2):
        return details.join_received(payload, known)
    async with reading(engine) as conn:  # no transaction: reads only (issue 18)
        return await details.whole_received(conn, document_id, payload)


def make_handler(settings: QuarantineSettings, pool: SupervisedPool):
    @reads_blobs  # small blobs come with the batch's check-in (issue 18)
    @reads_details(details.ReceivedDetails)
    async def handle_received(
        event: Envelope[DocumentReceivedV1 | DocumentReceivedV2],
        ctx: HandlerContext[DocumentReceivedV1 | DocumentReceivedV2],
    ) -> None:
        known = ctx.details_of(details.ReceivedDetails)
        received = await received_in_full(ctx.engine, event.document_id, event.payload, known)
        async with spool(settings) as parts_spool:
            result = await screen(ctx.engine, settings, received, pool, parts_spool)
            async with ctx.unit_of_work(claim_with_writes=True) as uow:  # one statement (issue 18)
                await record(uow, event.document_id, received, result, ctx.trace_id)
        findings = len(result.screening.findings)
        obs.STAGE_OUTCOMES.labels("quarantine", result.verdict).inc()
        log.info("screened", extra={"document_id": event.document_id, "outcome": result.verdict, "count": findings})

    return handle_received
