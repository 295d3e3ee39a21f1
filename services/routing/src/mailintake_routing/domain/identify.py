"""Finding who an item is about, from candidate directory records (SPEC 5; seed 001, 000).

Customers: by CRN, by the sender's email address (or addresses in the text), and by a name
beside a matching date of birth (fuzzy, for OCR'd names). Organisations: by ABN, by a
registered sender address, by sender domain. Every identification says how it was made,
naming directory ids only, never personal details.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from mailintake_routing.domain.model import Customer, Identified, Organisation


@dataclass(frozen=True)
class Clues:
    crns: tuple[str, ...] = ()
    abns: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()  # addresses in the text
    sender: str | None = None  # the email's From address
    people: tuple[tuple[str, str, str | None], ...] = ()  # (given, family, dob)

    @property
    def sender_domain(self) -> str | None:
        return self.sender.rsplit("@", 1)[1].lower() if self.sender and "@" in self.sender else None


OCR_NAME_FIXES = (("rn", "m"), ("0", "o"), ("1", "l"), ("5", "s"), ("|", "l"))


def _name_key(name: str) -> str:
    """Lower-cased, with common OCR confusions undone, for fuzzy comparison."""
    key = name.lower()
    for wrong, right in OCR_NAME_FIXES:
        key = key.replace(wrong, right)
    return key


def identify_customers(
    clues: Clues, candidates: list[Customer], name_min_score: float
) -> tuple[list[Customer], list[str]]:
    found: dict[str, Customer] = {}
    reasons: list[str] = []

    def add(customer: Customer, how: str) -> None:
        if customer.customer_id not in found:
            found[customer.customer_id] = customer
            reasons.append(f"customer {customer.customer_id} identified by {how}")

    for customer in candidates:
        if customer.crn in clues.crns:
            add(customer, "CRN")
    for customer in candidates:
        emails = {e.lower() for e in customer.emails}
        if clues.sender and clues.sender.lower() in emails:
            add(customer, "sender email address")
        elif emails & {e.lower() for e in clues.emails}:
            add(customer, "email address in the text")
    for given, family, dob in clues.people:
        for customer in candidates:
            if dob and customer.date_of_birth == dob:
                score = fuzz.token_sort_ratio(
                    _name_key(f"{given} {family}"), _name_key(f"{customer.given_name} {customer.family_name}")
                )
                if score >= name_min_score:
                    add(customer, f"name and date of birth (name match {score:.0f}%)")
    return list(found.values()), reasons


def identify_organisation(
    clues: Clues,
    candidates: list[Organisation],
    *,
    secure_mailbox: bool = False,
) -> tuple[Organisation | None, list[str]]:
    """ABN first, then a registered sender address, then the sender's domain.

    On the `secure` mailbox (seed 000) a sender identifies an organisation only when it is one of
    the organisation's registered senders (an address, else a domain) and the organisation uses
    secure messaging, or is a government (GovLink) organisation.
    """
    for org in candidates:
        if org.abn and org.abn in clues.abns:
            return org, [f"organisation {org.organisation_id} identified by ABN"]
    sender = (clues.sender or "").lower()
    domain = clues.sender_domain
    by_address = next((o for o in candidates if sender and sender in {a.lower() for a in o.sender_addresses}), None)
    by_domain = next((o for o in candidates if domain and domain in {d.lower() for d in o.email_domains}), None)
    match, how = (by_address, "registered sender address") if by_address else (by_domain, "sender domain")
    if match is None:
        return None, ["sender is not registered for secure messaging"] if secure_mailbox else []
    if secure_mailbox and not (match.kind == "government" or match.secure_messaging):
        return None, [f"sender is not registered for secure messaging with organisation {match.organisation_id}"]
    return match, [f"organisation {match.organisation_id} identified by {how}"]


def identify(
    clues: Clues,
    customers: list[Customer],
    organisations: list[Organisation],
    name_min_score: float,
    secure_mailbox: bool = False,
) -> Identified:
    found_customers, customer_reasons = identify_customers(clues, customers, name_min_score)
    organisation, org_reasons = identify_organisation(clues, organisations, secure_mailbox=secure_mailbox)
    return Identified(tuple(found_customers), organisation, tuple(customer_reasons + org_reasons))
