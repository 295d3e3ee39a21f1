"""Mail full of personal details, for checking they never leave the database (issue 15).

Three customers on the directory, and what they and their employer would send: letters naming
themselves, their CRN and address in the subject, body, attachments and their names, a web
form, and a letter with words that must raise an at-risk alert. Every value a test must not
find on a topic is listed by `needles`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tests.factories.documents import email_bytes


def _crn(rng: random.Random) -> str:
    return f"{rng.randrange(10**8, 10**9)}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}"


@dataclass(frozen=True)
class Person:
    customer_id: str
    given_name: str
    family_name: str
    date_of_birth: str  # ISO
    born_as_written: str  # as the customer writes it in a letter
    email: str
    crn: str

    @property
    def crn_as_written(self) -> str:
        return f"{self.crn[:3]} {self.crn[3:6]} {self.crn[6:9]} {self.crn[9]}"

    def directory_record(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "crn": self.crn,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "date_of_birth": self.date_of_birth,
            "emails": [self.email],
            "racs_level": 0,
        }


@dataclass
class PersonalMail:
    marguerite: Person
    tobias: Person
    annika: Person
    subjects: list[str] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)

    @property
    def people(self) -> list[Person]:
        return [self.marguerite, self.tobias, self.annika]

    def needles(self) -> list[str]:
        """Everything personal these items carry: none of it may appear on any topic."""
        found: list[str] = []
        for p in self.people:
            found += [p.given_name, p.family_name, p.email, p.crn, p.crn_as_written, p.date_of_birth]
            found.append(p.born_as_written)
        return found + self.subjects + self.passages

    def tenancy_email(self) -> bytes:
        """Marguerite writes from her own address with a lease attached, her name in the subject
        and the attachment's name."""
        m = self.marguerite
        subject = f"{m.family_name} - new tenancy from the 1st"
        self.subjects.append(subject)
        body = (
            "Hello,\n\nI've moved out of the flat on Carrington Street and signed a lease on a unit in"
            f" Bellambi. The new lease is attached. My customer reference number is {m.crn_as_written}"
            f" in case you need it.\n\nKind regards,\n{m.given_name} {m.family_name}\n"
        )
        lease = (
            f"RESIDENTIAL TENANCY AGREEMENT\nTenant: {m.given_name} {m.family_name}, born {m.born_as_written}\n"
            "Premises: Unit 4, 18 Seaview Parade, Bellambi NSW\nTerm: 12 months\n"
        ).encode()
        attachment = (f"{m.family_name} lease signed.txt", lease, "text/plain")
        return email_bytes(subject=subject, body=body, sender=m.email, attachments=[attachment])

    def at_risk_email(self) -> bytes:
        """Tobias, at the end of his rope: the passage must raise an alert and stay off the topics."""
        t = self.tobias
        passage = "I don't want to be alive anymore and I've been thinking about how I'd end it"
        self.passages.append(passage)
        subject = "about the payments again"
        self.subjects.append(subject)
        body = (
            f"To whoever reads this,\n\nCRN {t.crn}. The deductions have taken nearly everything and I can't"
            f" cover rent. {passage}. I'm sorry to put that in an email.\n\n{t.given_name}\n"
        )
        return email_bytes(subject=subject, body=body, sender=t.email)

    def employer_email(self) -> bytes:
        """An employer's payroll officer writes about two staff members' deductions."""
        m, t = self.marguerite, self.tobias
        subject = f"Deductions - {m.family_name} and {t.family_name}"
        self.subjects.append(subject)
        body = (
            "Good afternoon,\n\nPlease note the following employer deductions were made from pay for the"
            f" fortnight ending 14 November:\n\n  {m.given_name} {m.family_name} (CRN {m.crn}) $212.40\n"
            f"  {t.given_name} {t.family_name} (CRN {t.crn}) $187.05\n\n"
            "Regards,\nPayroll, Harbour City Joinery\n"
        )
        return email_bytes(subject=subject, body=body, sender="payroll@harbourcity-joinery.example.com.au")

    def change_of_circumstances_form(self) -> dict[str, object]:
        """Annika tells the agency she has changed jobs, through the web form."""
        import base64

        a = self.annika
        payslip = (
            f"PAYSLIP\nEmployee: {a.family_name}, {a.given_name}\nPay period: 01/11 - 14/11\nGross: $2,940.00\n"
        ).encode()
        return {
            "form_type": "change_of_circumstances",
            "submitted_at": "2026-11-28T19:42:00+11:00",
            "fields": {
                "full_name": f"{a.given_name} {a.family_name}",
                "date_of_birth": a.born_as_written,
                "crn": a.crn,
                "email": a.email,
                "what_changed": "I started a new job at the hospital on 3 November, on about $76,000 a year.",
            },
            "attachments": [
                {
                    "filename": f"{a.given_name} {a.family_name} first payslip.txt",
                    "content_base64": base64.b64encode(payslip).decode(),
                }
            ],
        }


def personal_mail(seed: int) -> PersonalMail:
    rng = random.Random(seed)
    tag = f"{seed:x}"
    return PersonalMail(
        marguerite=Person(
            f"PRIV-{tag}-MF", "Marguerite", "Featherstonhaugh", "1983-07-19", "19/07/1983",
            "m.featherstonhaugh83@example.net", _crn(rng),
        ),
        tobias=Person(
            f"PRIV-{tag}-TQ", "Tobias", "Quennell-Ashworth", "1979-01-30", "30 January 1979",
            "toby.qa@example.com", _crn(rng),
        ),
        annika=Person(
            f"PRIV-{tag}-AW", "Annika", "Wojciechowska", "1991-11-02", "02/11/1991",
            "annika.wojo@example.org", _crn(rng),
        ),
    )  # fmt: skip
