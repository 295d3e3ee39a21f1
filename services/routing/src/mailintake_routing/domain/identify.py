"""Finding who an item is about, from candidate directory records (SPEC 5; seed 001, 000).

Customers: by CRN, by the sender's email address (or addresses in the text), and by a name
beside a matching date of birth (fuzzy, for OCR'd names). Organisations: by ABN, by a
registered sender address, by sender domain, then by a name the item gives (fuzzy). Every
identification says how it was made, naming directory ids only, never personal details.

Senders (seed 001 line 26): among the customers identified, the ones who sent the item or on
whose behalf it was sent (`senders_among`, the evidence in ranks). A writer's name alone never
identifies anyone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from rapidfuzz import fuzz

from mailintake_common.events import WriterRole
from mailintake_routing.domain.model import Customer, Identified, Organisation


class WriterClue(NamedTuple):
    """Who wrote the item or for whom (classifier senders.py): the name, the part of the text
    that gives it, and whether that is in the covering message or in what it encloses."""

    given: str
    family: str
    role: WriterRole = "sign_off"
    covering: bool = True


@dataclass(frozen=True)
class Clues:
    crns: tuple[str, ...] = ()
    abns: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()  # addresses in the text
    sender: str | None = None  # the email's From address
    people: tuple[tuple[str, str, str | None], ...] = ()  # (given, family, dob)
    writers: tuple[WriterClue, ...] = ()  # who wrote it or for whom
    organisation_names: tuple[str, ...] = ()

    @property
    def sender_domain(self) -> str | None:
        return self.sender.rsplit("@", 1)[1].lower() if self.sender and "@" in self.sender else None


OCR_NAME_FIXES = (("rn", "m"), ("0", "o"), ("1", "l"), ("5", "s"), ("|", "l"))


def _name_key(name: str) -> str:
    """Lower-cased, with common OCR confusions undone and typographic apostrophes plain, for
    fuzzy comparison (a directory's "O’Neill" is the letter's "O'Neill")."""
    key = name.lower().replace("\u2019", "'").replace("\u2018", "'")
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
    """How well a name matches a customer's, 0-100: the family name alone when no given name is
    known (a solicitor's "We act for Ms Nguyen-Smith"; it only chooses among customers
    identified otherwise, and two customers of that family name are both named)."""
    if not given:
        return float(fuzz.ratio(_name_key(family), _name_key(customer.family_name)))
    return float(
        fuzz.token_sort_ratio(
            _name_key(f"{given} {family}"), _name_key(f"{customer.given_name} {customer.family_name}")
        )
    )


@dataclass(frozen=True)
class SenderRank:
    """One rank of sender evidence after the From address (seed 001 line 26; issue 14)."""

    where: str  # "the covering message"
    takes: Callable[[WriterClue], bool]
    one_person: bool = False  # evidence only when it names one person (a document's own lines)


# An agreement's signatory statements and signature lines name both parties: they show who sent
# it only when they name one person.
SIGNING = frozenset({"signatory", "signature"})
SENDER_RANKS = (
    SenderRank("the covering message", lambda w: w.covering and w.role not in SIGNING),
    SenderRank("the enclosed letter", lambda w: not w.covering and w.role not in SIGNING),
    SenderRank("the document's signatory lines", lambda w: w.role in SIGNING, one_person=True),
)


def _people(writers: list[WriterClue], min_score: float) -> list[WriterClue]:
    """The writers, one per person (a name written twice, or with an OCR slip, is one person)."""
    people: list[WriterClue] = []
    for w in writers:
        key = _name_key(f"{w.given} {w.family}")
        if not any(fuzz.token_sort_ratio(key, _name_key(f"{p.given} {p.family}")) >= min_score for p in people):
            people.append(w)
    return people


def senders_among(clues: Clues, customers: list[Customer], name_min_score: float) -> tuple[list[str], list[str]]:
    """Which identified customers sent the item (or had it sent for them), and how that is known
    (seed 001 line 26; issue 14), evidence in ranks:

    1. The From address of an identified customer decides: no one else is a sender.
    2. Else the writers of the covering message (its sign-off, a representative's client), then
       of an enclosed letter (a scanned covering letter), then the document's signatory and
       signature lines: the first rank that names anyone decides, and a customer is a sender
       when that rank names them. A rank naming only people not identified shows that none of
       the identified customers sent it (a parent not on file sends an agreement naming the
       other parent, who is).
    3. Evidence naming more than one person equally (two identified parents, or the two
       signatories of an agreement) shows nothing: no sender, a person decides.
    """
    sender = (clues.sender or "").lower()
    by_address = [c for c in customers if sender and sender in {e.lower() for e in c.emails}]
    if by_address:
        ids = [c.customer_id for c in by_address]
        return ids, [f"customer {c} sent it: it came from their email address" for c in ids]
    for rank in SENDER_RANKS:
        writers = _people([w for w in clues.writers if rank.takes(w)], name_min_score)
        if not writers:
            continue
        named = [c for c in customers if any(_name_score(w.given, w.family, c) >= name_min_score for w in writers)]
        if len(named) == 1 and (len(writers) == 1 or not rank.one_person):
            return [named[0].customer_id], [f"customer {named[0].customer_id} sent it: {rank.where} names them"]
        if len(named) > 1 or (rank.one_person and len(writers) > 1):
            return [], [f"who sent it is not shown: {rank.where} ({len(writers)} people named alike)"]
        return [], []
    return [], []


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


def organisation_name_score(directory_name: str, given: str) -> float:
    """How well a name an item gives matches a directory organisation's name, 0-100 (issue 14:
    fuzzy but careful): the whole name, in any order, with slips; the whole name among more
    words ("Sunraysia Citrus Growers" in "Sunraysia Citrus Growers deductions", when the name
    has two words or more, so an employee's surname is never an employer "Baxter Pty Ltd"); or
    the name's first two or more words ("Brightwater Plumbing" for "Brightwater Plumbing
    Services"). Never a few words from inside the name ("Payroll Services" is not "Precision
    Payroll Services")."""
    key, words = organisation_key(directory_name), organisation_key(given).split()
    if not key or not words:
        return 0.0
    name = key.split()
    best = float(fuzz.token_sort_ratio(key, " ".join(words)))
    if len(name) >= 2:
        for at in range(len(words) - len(name) + 1):
            best = max(best, float(fuzz.ratio(key, " ".join(words[at : at + len(name)]))))
    if 2 <= len(words) < len(name):
        best = max(best, float(fuzz.ratio(" ".join(name[: len(words)]), " ".join(words))))
    return best


def _by_name(clues: Clues, candidates: list[Organisation], min_score: float) -> tuple[Organisation, float] | None:
    best: tuple[Organisation, float] | None = None
    for org in candidates:
        for name in clues.organisation_names:
            score = organisation_name_score(org.name, name)
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
    if organisation is not None and senders and not sent_by(organisation, clues):
        # seed 001 lines 151-156: a parent writing about deductions from their own pay (the
        # employer's ABN on a payslip) writes their own correspondence, not the employer's
        org_reasons.append(f"organisation {organisation.organisation_id} is only named by the customer who sent it")
        organisation = None
    reasons = tuple(customer_reasons + sender_reasons + org_reasons)
    return Identified(tuple(found_customers), organisation, reasons, tuple(senders))


def sent_by(organisation: Organisation, clues: Clues) -> bool:
    """Whether the item came from the organisation's registered address or one of its domains."""
    sender = (clues.sender or "").lower()
    addresses = {a.lower() for a in organisation.sender_addresses}
    return bool(sender and sender in addresses) or (clues.sender_domain or "") in {
        d.lower() for d in organisation.email_domains
    }
