"""What routing decides on and what it decides: pure dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mailintake_common.events import DeductionKind, Verdict


@dataclass(frozen=True)
class Customer:
    customer_id: str
    crn: str
    given_name: str
    family_name: str
    date_of_birth: str | None
    emails: tuple[str, ...] = ()
    racs_level: int = 0
    case_ids: tuple[str, ...] = ()  # the child support cases this customer is a party to


@dataclass(frozen=True)
class Organisation:
    organisation_id: str
    name: str
    abn: str | None
    email_domains: tuple[str, ...] = ()
    kind: str = "employer"  # employer | overseas_entity | government
    secure_messaging: bool = False
    in_liquidation: bool = False
    sender_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identified:
    """Who an item is about, and how each was found (reasons, without personal details)."""

    customers: tuple[Customer, ...] = ()
    organisation: Organisation | None = None
    reasons: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()  # ids of the customers who sent it, or on whose behalf it was sent

    @property
    def customer_ids(self) -> list[str]:
        return [c.customer_id for c in self.customers]

    @property
    def shared_case(self) -> str | None:
        """A case every identified customer is a party to (the parents of one case), else None."""
        if len(self.customers) < 2:
            return None
        common = set(self.customers[0].case_ids).intersection(*(c.case_ids for c in self.customers[1:]))
        return min(common) if common else None

    @property
    def racs_level(self) -> int:
        return max((c.racs_level for c in self.customers), default=0)


@dataclass(frozen=True)
class Item:
    """The classified item, as routing sees it."""

    channel: str
    verdict: Verdict = "clear"
    document_type: str | None = None
    priority: bool = False
    at_risk: bool = False
    ocr_confidence: float | None = None
    pages_total: int = 0
    pages_blank: int = 0
    separator: bool = False
    missing_pages: bool = False
    duplicate_of: str | None = None
    child_support_related: bool = True  # False only on positive evidence (issue 14)
    intended_for_other_agency: bool = False  # addressed to another agency, or only about its payments
    addressed_to_other_agency: bool = False  # addressed to another agency: non-customer even when identified
    overseas: bool = False  # an overseas case in the text (not a holiday abroad)
    referrals: tuple[str, ...] = ()  # family_violence, fraud, child_protection, foi: never deleted (seed 001)
    mailbox: str | None = None
    sender_domain: str | None = None
    automatic_mail: str | None = None  # why it is automatic mail (issue 9), else None
    abns: tuple[str, ...] = ()
    employer_correspondence: bool = False  # written by an employer (deductions, payroll, HR, liquidator)
    deductions: tuple[DeductionKind, ...] = ()  # "standard", "s72a" (seed 001 line 97)
    received_at: datetime | None = None  # receipt: the priority clock starts here (seed 001 line 134)
    type_note: str | None = None  # why the classifier gave no type, when it gave none (issue 14)
    several_forms: bool = False  # two or more forms in one scan or PDF (seed 001 line 99)


@dataclass
class Decision:
    queue: str
    category: str
    sub_category: str | None = None
    exemption: bool = False
    priority: bool = False
    due_by: datetime | None = None
    customer_ids: list[str] = field(default_factory=list)
    organisation_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    racs_level: int = 0
    rule: str = ""

    def as_routing(self) -> dict[str, object]:
        """Exactly SPEC 3's `routing` block."""
        return {
            "queue": self.queue,
            "category": self.category,
            "sub_category": self.sub_category,
            "exemption": self.exemption,
            "priority": self.priority,
            "due_by": self.due_by.isoformat() if self.due_by else None,
            "customer_ids": list(self.customer_ids),
            "organisation_id": self.organisation_id,
            "reasons": list(self.reasons),
        }
