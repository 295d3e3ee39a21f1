"""Classifier's handler: read what quarantine cleared, OCR pages, classify, announce.

Only `cleared_parts` are opened, and only in the supervised worker processes (adapters/ocr.py,
issue 15): reading a part (PDF text layers, HTML, Office) and OCR of each page run there with
memory and time limits, so a hostile file can take down a worker but not the service; the
event loop only awaits them. A large part reaches them as a file of the item's spool, streamed
from the blob store and removed when the item is read (`mailintake_common.spool`, issue 17):
the service never holds a scan whole. One unit of work then stores the masked text, the
classification and the `classified` event. The subject, filenames and places come from
quarantine's details; identifiers, names, passages and unreadable parts' names go to the
classifier's (`mailintake_common.details`): the v2 event carries decisions only (issue 15).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from contextlib import AbstractAsyncContextManager, nullcontext

from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_classifier.adapters.ocr import OcrPool
from mailintake_classifier.adapters.parts import PageSlot, PartLimits, read_part
from mailintake_classifier.domain.at_risk import detector_version
from mailintake_classifier.domain.classify import Classification, ItemText, Section, classify
from mailintake_classifier.domain.quality import PageReading
from mailintake_classifier.settings import ClassifierSettings
from mailintake_common import details
from mailintake_common import observability as obs
from mailintake_common.blobs import BlobNotFound, BlobReader, reader
from mailintake_common.consumer import HandlerContext, PermanentError
from mailintake_common.db import reading as reading_only
from mailintake_common.events import (
    TOPIC_CLASSIFIED,
    AtRiskMatch,
    BlobRef,
    DocumentClassifiedV1,
    DocumentScreenedV1,
    DocumentScreenedV2,
    Envelope,
    Identifiers,
    PageQuality,
    PersonMention,
    new_event,
)
from mailintake_common.handler_context import reads_blobs, reads_details
from mailintake_common.spool import PartContent, Spool, spool

log = logging.getLogger(__name__)


class _InMemory:
    """Every part as bytes, for an item with no part over `part_spool_bytes` (an e-mail, a form):
    a spool's fetch would do the same, and the spool is not named and looked for (issue 18)."""

    async def fetch(self, store: BlobReader, ref: BlobRef) -> PartContent:
        return PartContent.of(await store.get(ref))


async def read_item(
    engine: AsyncEngine,
    screened: DocumentScreenedV1,
    pool: OcrPool,
    settings: ClassifierSettings,
    limits: PartLimits | None = None,
) -> tuple[ItemText, str]:
    """The item's sections and pages (OCR done), and the sha256 over its cleared content.

    Every cleared part is read (adapters/parts.py); a part nothing could be read from is listed
    in `unchecked` by its source. Pages share one budget per item (`max_pages_per_item`).
    `limits`: what reading a part needs of `settings` (made once by the handler).
    """
    limits = limits or PartLimits.of(settings)
    item = ItemText(
        screened.channel, screened.form_type, screened.verdict, screened.email.report_type if screened.email else None
    )
    digest = hashlib.sha256()
    if screened.email and screened.email.subject:
        item.sections.append(Section("subject", screened.email.subject))
    page_slots: list[tuple[PageSlot, str, bool]] = []  # (slot, source, is_scan)
    on_disk = any(part.blob.size > settings.part_spool_bytes for part in screened.cleared_parts)
    parts: AbstractAsyncContextManager[Spool | _InMemory] = spool(settings) if on_disk else nullcontext(_InMemory())
    async with parts as parts_spool:  # page jobs read a spool's files: it lasts until OCR is done
        async with reader(engine) as store:  # a connection only for a blob the check-in did not bring
            for part in screened.cleared_parts:
                try:
                    content = await parts_spool.fetch(store, part.blob)
                except BlobNotFound:
                    raise PermanentError("a cleared part is missing from the blob store") from None
                digest.update(part.blob.sha256.encode())
                source = part.source or part.filename or part.kind.replace("_", " ")
                pages_left = settings.max_pages_per_item - len(page_slots)
                reading = await pool.run(
                    read_part,
                    part.kind,
                    part.media_type,
                    part.part_id,
                    source,
                    content.data if content.data is not None else content,  # bytes: the worker needs no spool
                    limits,
                    pages_left,
                    timeout_s=settings.parse_timeout_s,
                )
                item.sections += reading.sections
                item.form_type = item.form_type or reading.form_type
                if reading.unreadable:
                    item.unchecked.append(source)
                page_slots += [(slot, source, part.kind == "scan") for slot in reading.pages]
        jobs = [slot[3] for slot, _, _ in page_slots if slot[3] is not None]
        results = iter(await pool.read(jobs)) if jobs else iter(())
    for (part_id, number, text, job), source, is_scan in page_slots:
        if job is None:
            page = PageReading(part_id, number, text or "", None, 1.0)
        else:
            ocr = next(results)
            page = PageReading(part_id, number, ocr.text, ocr.confidence, ocr.ink)
        if is_scan:
            item.pages.append(page)
        else:
            item.sections.append(Section(f"{source} page {number}", page.text))
    if item.unchecked:
        log.info("parts unreadable", extra={"count": len(item.unchecked)})
    return item, digest.hexdigest()


def classification_json(result: Classification) -> dict[str, object]:
    """Exactly SPEC 3's `classification` block."""
    return {
        "document_type": result.document.document_type,
        "confidence": result.document.confidence,
        "at_risk": bool(result.at_risk),
        "at_risk_matches": [
            {"category": m.category, "phrase": m.phrase, "offset": m.offset, "part": m.part, "layer": m.layer}
            for m in result.at_risk
        ],
        "at_risk_detector": detector_version(),
        "ocr_confidence": result.ocr_confidence,
        "identifiers": {
            "crn": result.identifiers.crn,
            "abn": result.identifiers.abn,
            "emails": result.identifiers.emails,
        },
    }


def classified_payload(
    screened: DocumentScreenedV1, result: Classification, sha: str, text_ref
) -> DocumentClassifiedV1:
    return DocumentClassifiedV1(
        channel=screened.channel,
        received_at=screened.received_at,
        mailbox=screened.mailbox,
        form_type=screened.form_type,
        verdict=screened.verdict,
        findings=screened.findings,
        email=screened.email,
        document_type=result.document.document_type,
        confidence=result.document.confidence,
        type_reasons=result.document.reasons,
        priority=result.document.priority,
        at_risk=bool(result.at_risk),
        at_risk_matches=[
            AtRiskMatch(category=m.category, phrase=m.phrase, offset=m.offset, part=m.part, layer=m.layer)
            for m in result.at_risk
        ],
        at_risk_detector=detector_version(),
        unchecked=result.unchecked,
        ocr_confidence=result.ocr_confidence,
        pages=[
            PageQuality(
                part_id=p.part_id, page=p.page, ocr_confidence=p.ocr_confidence, blank=p.blank, separator=p.separator
            )
            for p in result.pages
        ],
        missing_pages=result.missing_pages,
        identifiers=Identifiers(
            crn=result.identifiers.crn, abn=result.identifiers.abn, emails=result.identifiers.emails
        ),
        people=[
            PersonMention(given_name=p.given_name, family_name=p.family_name, date_of_birth=p.date_of_birth)
            for p in result.people
        ],
        child_support_related=result.child_support_related,
        intended_for_other_agency=result.intended_for_other_agency,
        addressed_to_other_agency=result.audience.addressed_to_other_agency,
        overseas=result.overseas,
        referrals=list(result.audience.referrals),
        securemail_wording=result.audience.securemail_wording,
        read_notice_wording=result.audience.read_notice_wording,
        content_sha256=sha,
        text_blob=text_ref,
        writers=[
            PersonMention(given_name=w.given_name, family_name=w.family_name, role=w.role, covering=w.covering)
            for w in result.writers
        ],
        organisation_names=result.organisation_names,
        employer_correspondence=result.employer_correspondence,
        deductions=result.deductions,
        several_forms=result.several_forms,
    )


async def screened_in_full(
    engine: AsyncEngine,
    document_id: str,
    payload: DocumentScreenedV1 | DocumentScreenedV2,
    known: details.ScreeningDetails | None = None,
) -> DocumentScreenedV1:
    """The screened event joined with what quarantine kept: subject, filenames, places (issue 15);
    `known`: as fetched with the event's check-in (issue 18), so nothing is read."""
    if known is not None and isinstance(payload, DocumentScreenedV2):
        return details.join_screened(payload, known)
    async with reading_only(engine) as conn:  # no transaction: reads only (issue 18)
        return await details.whole_screened(conn, document_id, payload)


def make_handler(settings: ClassifierSettings, pool: OcrPool):
    limits = PartLimits.of(settings)

    @reads_blobs  # small blobs come with the batch's check-in (issue 18)
    @reads_details(details.ScreeningDetails)
    async def handle_screened(
        event: Envelope[DocumentScreenedV1 | DocumentScreenedV2],
        ctx: HandlerContext[DocumentScreenedV1 | DocumentScreenedV2],
    ) -> None:
        known = ctx.details_of(details.ScreeningDetails)
        screened = await screened_in_full(ctx.engine, event.document_id, event.payload, known)
        item, sha = await read_item(ctx.engine, screened, pool, settings, limits)
        result = await asyncio.to_thread(  # CPU work on untrusted text: off the event loop
            classify,
            item,
            blank_ink=settings.blank_page_max_ink,
            blank_min_chars=settings.blank_page_max_chars,
            max_chars=settings.at_risk_max_chars,
            unreadable_below=settings.ocr_unchecked_below_confidence,
        )
        outcome = result.document.document_type or "unclassified"
        reasons = list(result.document.reasons) + sorted(
            {f"at-risk language: {m.category} in {m.part} ({m.layer})" for m in result.at_risk}
        )
        reasons += [f"could not be read, a person must read it: {source}" for source in result.unchecked]
        reasons += result.audience.reasons
        async with ctx.unit_of_work(claim_with_writes=True) as uow:  # one statement (issue 18)
            text_ref = await uow.blobs.put(result.text.encode("utf-8"), "text/plain; charset=utf-8")
            await uow.documents.advance_later(event.document_id, "classified", result=classification_json(result))
            await uow.documents.add_timeline(event.document_id, "classifier", outcome, reasons)
            payload, kept = details.split_classified(classified_payload(screened, result, sha, text_ref))
            await details.keep(uow.conn, event.document_id, kept, uow.writes)
            await uow.outbox.add(TOPIC_CLASSIFIED, new_event(event.document_id, payload), trace_id=ctx.trace_id)
        obs.STAGE_OUTCOMES.labels("classifier", outcome).inc()
        if result.at_risk:
            obs.STAGE_OUTCOMES.labels("classifier", "at_risk").inc()
        log.info("classified", extra={"document_id": event.document_id, "outcome": outcome, "count": len(item.pages)})

    return handle_screened
