"""The Kafka contract (SPEC 4): topic names, the event envelope and versioned payloads.

Every event on every topic is an `Envelope` whose `payload` is one of the models below.
Payloads carry references to blobs, never large content. A consumer validates the
payload with the model named by `event_type` and `schema_version`; an event it cannot
validate goes to the topic's DLQ (see consumer.py).

Adding a field with a default is backwards compatible and keeps the version; removing or
changing a field's meaning means a new model and `schema_version` + 1, registered in
`PAYLOADS` beside the old one.

Version 2 (issue 15): ids, references and decisions only; the personal details stay in the
producer's table (details.py). v1 is the whole of what a stage decided (v2 joined with its
details), still read when written before the upgrade, never written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field

from mailintake_common.validation import short_validation_error

# -- topics -------------------------------------------------------------------------

TOPIC_RECEIVED = "mail.intake.received"
TOPIC_SCREENED = "mail.quarantine.screened"
TOPIC_CLASSIFIED = "mail.classifier.classified"
TOPIC_ROUTED = "mail.routing.routed"
TOPIC_ALERTS = "mail.alerts.at-risk"
QUEUE_TOPIC_PREFIX = "mail.queue."


def queue_topic(queue: str) -> str:
    return f"{QUEUE_TOPIC_PREFIX}{queue}"


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


Channel = Literal["email", "scan", "webform"]
Mailbox = Literal["edc", "webmaster", "secure"]
FormType = Literal["complaint_feedback", "contact_us", "document_retrieval", "change_of_circumstances", "other"]
Verdict = Literal["clear", "manual_adjustment", "quarantined"]
HoldReason = Literal["encrypted", "media", "harmful", "size"]  # why quarantine holds an item (SPEC 3)
# A document's status (SPEC 3), in the order it moves; `failed` when a stage dead-lettered it.
DocumentStatus = Literal["received", "screened", "classified", "routed", "failed"]
QueueItemStatus = Literal["open", "completed"]  # an item is open until an officer completes it
PartRole = Literal["raw_email", "scan", "form_fields", "attachment"]  # a received part
PartKind = Literal["text_body", "html_body", "attachment", "scan", "form_fields"]  # a cleared part
# Alerts as work (SPEC 3 "Work after routing"): an alert is open, then acknowledged, then closed.
AlertStatus = Literal["open", "acknowledged", "closed"]
AlertOutcome = Literal["referred", "welfare_check", "no_action", "other"]
AlertAction = Literal["acknowledge", "close"]
DeductionKind = Literal["standard", "s72a"]  # seed 001 line 97: ordinary employer deductions, s72A notices
WriterRole = Literal["signatory", "client", "sign_off", "signature"]  # where a writer is named (issue 14)
# The exemption queues of SPEC 5's routing rules; the category queues come from the routing
# matrix (data), so a queue in general is a `str` and an exemption queue is one of these.
ExemptionQueue = Literal[
    "manual-adjustment",
    "non-customer",
    "racs",
    "review-image",
    "multiple-customers",
    "pending-delete",
    "unidentified-employer",
    "unidentified-customer",
    "specified-image",
]
EXEMPTION_QUEUES: tuple[ExemptionQueue, ...] = get_args(ExemptionQueue)
# The queue of an alert for a document not (yet) routed: restricted for detail, counted for all.
UNROUTED = "unrouted"
# The alert category for an item nobody could read or classify: a person must read it.
COULD_NOT_BE_CHECKED = "could_not_be_checked"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlobRef(_Model):
    """Where content lives in the blob store (blobs.py): addressed by its sha256."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str


# -- mail.intake.received -------------------------------------------------------------


class ReceivedPartRef(_Model):
    """One thing intake stored (raw email, scan, form fields, attachment); its filename is in
    `received_details`. `declared_type` is the sender's word: quarantine sniffs the bytes."""

    part_id: str
    role: PartRole
    declared_type: str | None = None
    blob: BlobRef


class ReceivedPart(ReceivedPartRef):
    filename: str | None = None


class _Received(_Model):
    channel: Channel
    received_at: datetime
    mailbox: Mailbox | None = None
    form_type: FormType | None = None
    submitted_at: datetime | None = None
    batch_id: str | None = None
    scanner_id: str | None = None


class DocumentReceivedV1(_Received):
    parts: list[ReceivedPart]


class DocumentReceivedV2(_Received):
    parts: list[ReceivedPartRef]


# -- mail.quarantine.screened ---------------------------------------------------------


class Finding(_Model):
    """One screening observation. `detail` is human-readable and carries no personal content."""

    part: str
    rule: str
    detail: str


class ClearedPartRef(_Model):
    """A part quarantine cleared for reading, in its own blob; `media_type` is sniffed (libmagic).
    Downstream services open only these. Filename and place: `screening_details`, same order."""

    part_id: str
    kind: PartKind
    media_type: str
    blob: BlobRef


class ClearedPart(ClearedPartRef):
    filename: str | None = None
    # Where the part sits in the item, for reasons ("attachment 2 letters.zip / statement.docx").
    source: str | None = None


class EmailFacts(_Model):
    """Header facts of an email that later stages decide on (sender, automatic-mail markers)."""

    from_address: str | None = None
    to_addresses: list[str] = []
    subject: str | None = None
    message_id: str | None = None
    auto_submitted: str | None = None
    x_auto_response_suppress: str | None = None
    precedence: str | None = None
    content_type: str | None = None
    report_type: str | None = None


class _Screened(_Model):
    channel: Channel
    received_at: datetime
    mailbox: Mailbox | None = None
    form_type: FormType | None = None
    verdict: Verdict


class DocumentScreenedV1(_Screened):
    findings: list[Finding] = []
    # For `quarantined` only text bodies and form fields are cleared (read as text, never
    # rendered); attachments and scans are withheld. `clear` and `manual_adjustment` (held only
    # for size) clear every readable file at any depth, in order.
    cleared_parts: list[ClearedPart] = []
    email: EmailFacts | None = None


class DocumentScreenedV2(_Screened):
    """The verdict and its rules; findings, email facts and part names are in `screening_details`."""

    rules: list[str] = []
    cleared_parts: list[ClearedPartRef] = []  # in order, as for v1


# -- mail.classifier.classified -------------------------------------------------------


class AtRiskMatch(_Model):
    category: str
    phrase: str  # the passage, as the detector read it
    offset: int  # into the stored text
    part: str | None = None  # where it was found: "subject", "body 1", "attachment x.docx, paragraph 2"
    layer: str | None = None  # which layer found it: lexicon, construction or model


class PageQuality(_Model):
    part_id: str
    page: int
    ocr_confidence: float | None = None  # 0-100, mean word confidence; None when not OCR'd
    blank: bool = False
    separator: bool = False  # scanner separator or test sheet


class Identifiers(_Model):
    crn: list[str] = []
    abn: list[str] = []
    emails: list[str] = []


class PersonMention(_Model):
    """A name beside a date of birth (name + DOB identification), or a writer and where named (issue 14)."""

    given_name: str
    family_name: str
    date_of_birth: str | None = None  # ISO date
    role: WriterRole | None = None  # a writer's: signatory line, representative's client, sign-off, signature
    covering: bool = True  # a writer's: in the covering message (email subject and bodies, web form fields)


class _Classified(_Model):
    channel: Channel
    received_at: datetime
    mailbox: Mailbox | None = None
    form_type: FormType | None = None
    verdict: Verdict
    document_type: str | None = None
    confidence: float = 0.0
    type_reasons: list[str] = []  # the cues that scored, never the text they matched
    priority: bool = False
    at_risk: bool = False
    at_risk_detector: str | None = None  # the detector's version
    ocr_confidence: float | None = None
    pages: list[PageQuality] = []
    missing_pages: bool = False
    # Positive evidence only (issue 14): unrelated mail or mail for another agency is not child-support related.
    child_support_related: bool = True
    intended_for_other_agency: bool = False  # addressed to another agency, or only about its payments
    addressed_to_other_agency: bool = False  # addressed to another agency: non-customer even if identified
    overseas: bool = False  # an overseas case (an overseas agency, treaty, court or a parent abroad)
    referrals: list[str] = []  # family_violence, fraud, child_protection, foi: never deleted (seed 001)
    securemail_wording: bool = False  # reads like the agency's Securemail delivery notice (seed 000)
    read_notice_wording: bool = False  # reads like a plain-text read notice, and is short
    content_sha256: str | None = None  # over the cleared content, for exact-duplicate detection
    text_blob: BlobRef | None = None  # extracted text, TFNs masked
    employer_correspondence: bool = False  # written in an employer's voice (issue 14)
    deductions: list[DeductionKind] = []  # the kinds of deduction it speaks of
    several_forms: bool = False  # two or more forms in one scan or PDF (seed 001 line 99)


class DocumentClassifiedV1(_Classified):
    """The whole classification: what routing decides on (v2 joined with `classification_details`)."""

    findings: list[Finding] = []
    email: EmailFacts | None = None
    at_risk_matches: list[AtRiskMatch] = []
    unchecked: list[str] = []  # parts nobody could read (unreadable, OCR too low): a person reads it
    identifiers: Identifiers = Identifiers()
    people: list[PersonMention] = []
    # Who the item is from (issue 14): who wrote it or on whose behalf (two-party documents), and
    # the organisations it names.
    writers: list[PersonMention] = []
    organisation_names: list[str] = []


class DocumentClassifiedV2(_Classified):
    """Decisions only: identifiers, names, passages and email facts are in `classification_details`."""

    at_risk_categories: list[str] = []
    unchecked_parts: int = 0  # how many parts nobody could read


# -- mail.routing.routed, mail.queue.<queue>, mail.alerts.at-risk ----------------------


class DocumentRoutedV1(_Model):
    queue: str
    category: str
    sub_category: str | None = None
    exemption: bool
    priority: bool
    due_by: datetime | None = None
    customer_ids: list[str] = []
    organisation_id: str | None = None
    reasons: list[str] = []
    racs_level: int = 0
    at_risk: bool = False


class _Alert(_Model):
    alert_id: str
    queue: str
    customer_ids: list[str] = []
    categories: list[str] = []  # every category the alert now carries, e.g. `could_not_be_checked` alone
    detector: str | None = None  # the at-risk detector's version (classified.at_risk_detector)


class AtRiskAlertV1(_Alert):
    matches: list[AtRiskMatch]


class AtRiskAlertV2(_Alert):
    parts: list[str] = []  # where the matches are, by position only ("body 1"); passages stay on the document


# -- the envelope ---------------------------------------------------------------------

P = TypeVar("P", bound=BaseModel)

EVENT_RECEIVED = "document.received"
EVENT_SCREENED = "document.screened"
EVENT_CLASSIFIED = "document.classified"
EVENT_ROUTED = "document.routed"
EVENT_QUEUED = "document.queued"
EVENT_AT_RISK = "alert.at_risk"
EVENT_DEAD_LETTER = "dead_letter"

# (event_type, schema_version) -> payload model
PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {
    (EVENT_RECEIVED, 2): DocumentReceivedV2,
    (EVENT_SCREENED, 2): DocumentScreenedV2,
    (EVENT_CLASSIFIED, 2): DocumentClassifiedV2,
    (EVENT_ROUTED, 1): DocumentRoutedV1,
    (EVENT_QUEUED, 1): DocumentRoutedV1,
    (EVENT_AT_RISK, 2): AtRiskAlertV2,
    # v1: still read (written before the upgrade: the outbox, a DLQ replay), never written.
    (EVENT_RECEIVED, 1): DocumentReceivedV1,
    (EVENT_SCREENED, 1): DocumentScreenedV1,
    (EVENT_CLASSIFIED, 1): DocumentClassifiedV1,
    (EVENT_AT_RISK, 1): AtRiskAlertV1,
}
SUPERSEDED = frozenset((t, v) for (t, v) in PAYLOADS if (t, v + 1) in PAYLOADS)  # read while the setting allows
EVENT_TYPE_OF: dict[type[BaseModel], tuple[str, int]] = {
    DocumentReceivedV2: (EVENT_RECEIVED, 2),
    DocumentScreenedV2: (EVENT_SCREENED, 2),
    DocumentClassifiedV2: (EVENT_CLASSIFIED, 2),
    DocumentRoutedV1: (EVENT_ROUTED, 1),  # the same payload is `document.queued` on queue topics
    AtRiskAlertV2: (EVENT_AT_RISK, 2),
    DocumentReceivedV1: (EVENT_RECEIVED, 1),
    DocumentScreenedV1: (EVENT_SCREENED, 1),
    DocumentClassifiedV1: (EVENT_CLASSIFIED, 1),
    AtRiskAlertV1: (EVENT_AT_RISK, 1),
}


class Envelope(BaseModel, Generic[P]):
    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: str
    schema_version: int
    document_id: str
    occurred_at: datetime
    payload: P


# pydantic holds `Envelope[X]` weakly: without these it was built again (~1 ms) per event (issue 18)
ENVELOPES = {model: Envelope[model] for model in (dict, *PAYLOADS.values())}  # type: ignore[valid-type]


def new_event(
    document_id: str, payload: P, *, event_type: str | None = None, version: int | None = None
) -> Envelope[P]:
    """Wrap a payload in a fresh envelope; the type comes from the payload's model."""
    if event_type is None:
        event_type, version = EVENT_TYPE_OF[type(payload)]
    return Envelope[type(payload)](  # type: ignore[misc,operator]
        event_id=uuid.uuid4().hex,
        event_type=event_type,
        schema_version=version or 1,
        document_id=document_id,
        occurred_at=datetime.now(UTC),
        payload=payload,
    )


class InvalidEvent(ValueError):
    """The bytes are not an envelope with a known, valid payload."""


def parse_event(raw: bytes) -> Envelope[BaseModel]:
    """Validate raw Kafka bytes into a typed envelope, or raise InvalidEvent."""
    try:
        head = Envelope[dict].model_validate_json(raw)  # type: ignore[type-var]
        model = PAYLOADS.get((head.event_type, head.schema_version))
        if model is None:
            raise InvalidEvent(f"unknown event type {head.event_type!r} v{head.schema_version}")
        return Envelope[model].model_validate_json(raw)  # type: ignore[valid-type]
    except InvalidEvent:
        raise
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise InvalidEvent(short_validation_error(exc)) from None
