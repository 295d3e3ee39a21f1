"""Finding who an item is about, from candidate directory records (SPEC 5; seed 001, 000).

Customers: by CRN, by the sender's email address (or addresses in the text), and by a name
beside a matching date of birth (fuzzy, for OCR'd names). Organisations: by ABN, by a
registered sender address, by sender domain, then by a name the item gives (fuzzy). Every
identification says how it was made, naming directory ids only, never personal details.

Senders (seed 001 line 26): among the customers identified, the ones who sent the item or on
whose behalf it was sent: by the sender's address, or by the name of the item's writer (the
signatory writing "I", a representative's client, the name under the sign-off). A writer's
name alone never identifies anyone.
"""

from __future__ import annotations

import re
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
    writers: tuple[tuple[str, str], ...] = ()  # (given, family) of who wrote it or for whom
    organisation_names: tuple[str, ...] = ()

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


ORGANISATION_NOISE = re.compile(r"\b(?:pty|ltd|limited|inc|incorporated|the|trading as|t/as)\b|[^\w\s]")


def organisation_key(name: str) -> str:
    return " ".join(ORGANISATION_NOISE.sub(" ", name.lower()).split())


def name_words(names: tuple[str, ...] | list[str], *, every: bool = False) -> list[str]:
    """Words of organisation names for a coarse look-up the fuzzy match then judges: the longest
    word of each name (an item's clue), or every word of three letters or more (a directory name)."""
    words: list[str] = []
    for name in names:
        key = [w for w in organisation_key(name).split() if len(w) >= 3]
        if key:
            words += key if every else [max(key, key=len)]
    return list(dict.fromkeys(words))


def _name_score(given: str, family: str, customer: Customer) -> float:
    return float(
        fuzz.token_sort_ratio(
            _name_key(f"{given} {family}"), _name_key(f"{customer.given_name} {customer.family_name}")
        )
    )


def senders_among(clues: Clues, customers: list[Customer], name_min_score: float) -> tuple[list[str], list[str]]:
    """Which identified customers sent the item (or had it sent for them), and how that is known."""
    senders: list[str] = []
    reasons: list[str] = []
    sender = (clues.sender or "").lower()
    for customer in customers:
        if sender and sender in {e.lower() for e in customer.emails}:
            how = "it came from their email address"
        elif any(_name_score(given, family, customer) >= name_min_score for given, family in clues.writers):
            how = "the item is written by them or on their behalf"
        else:
            continue
        senders.append(customer.customer_id)
        reasons.append(f"customer {customer.customer_id} sent it: {how}")
    return senders, reasons


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
                score = _name_score(given, family, customer)
                if score >= name_min_score:
                    add(customer, f"name and date of birth (name match {score:.0f}%)")
    return list(found.values()), reasons


def _by_name(clues: Clues, candidates: list[Organisation], min_score: float) -> tuple[Organisation, float] | None:
    best: tuple[Organisation, float] | None = None
    for org in candidates:
        key = organisation_key(org.name)
        for name in clues.organisation_names:
            score = float(fuzz.token_set_ratio(key, organisation_key(name))) if key else 0.0
            if score >= min_score and (best is None or score > best[1]):
                best = (org, score)
    return best


def identify_organisation(
    clues: Clues,
    candidates: list[Organisation],
    *,
    secure_mailbox: bool = False,
    name_min_score: float = 90.0,
) -> tuple[Organisation | None, list[str]]:
    """ABN first, then a registered sender address, then the sender's domain, then its name.

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
    if match is not None and secure_mailbox and not (match.kind == "government" or match.secure_messaging):
        return None, [f"sender is not registered for secure messaging with organisation {match.organisation_id}"]
    if match is not None:
        return match, [f"organisation {match.organisation_id} identified by {how}"]
    if secure_mailbox:  # seed 000: an unregistered sender identifies no organisation, whatever it names
        return None, ["sender is not registered for secure messaging"]
    named = _by_name(clues, candidates, name_min_score)
    if named is not None:
        org, score = named
        return org, [f"organisation {org.organisation_id} identified by name (match {score:.0f}%)"]
    return None, []


def identify(
    clues: Clues,
    customers: list[Customer],
    organisations: list[Organisation],
    name_min_score: float,
    secure_mailbox: bool = False,
    organisation_name_min_score: float = 90.0,
) -> Identified:
    found_customers, customer_reasons = identify_customers(clues, customers, name_min_score)
    senders, sender_reasons = senders_among(clues, found_customers, name_min_score)
    organisation, org_reasons = identify_organisation(
        clues, organisations, secure_mailbox=secure_mailbox, name_min_score=organisation_name_min_score
    )
    reasons = tuple(customer_reasons + sender_reasons + org_reasons)
    return Identified(tuple(found_customers), organisation, reasons, tuple(senders))
