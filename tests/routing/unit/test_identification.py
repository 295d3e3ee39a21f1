"""Who an item attaches to: senders of two-party documents, parents of one case, employers'
lists of customers, and unidentified employers (seed 001 lines 26, 97-99, 151-156; issue 14)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from mailintake_routing.domain.identify import Clues, WriterClue, identify, organisation_name_score
from mailintake_routing.domain.matrix import default_matrix
from mailintake_routing.domain.model import Customer, Identified, Item, Organisation
from mailintake_routing.domain.rules import Context, decide

CTX = Context(default_matrix(), 60.0, lambda _received: datetime(2026, 11, 25, 6, 0, tzinfo=UTC))
MOTHER = Customer("C-M", "111222333A", "Priya", "Raman", "1988-02-03", ("priya.r@example.org",), case_ids=("K-7",))
FATHER = Customer("C-F", "444555666B", "Daniel", "Okafor", "1986-07-19", ("dan.okafor@example.net",), case_ids=("K-7",))
STRANGER = Customer("C-S", "777888999C", "Lee", "Nguyen", "1975-11-30", case_ids=("K-9",))
ACME = Organisation("O-A", "Acme Freight Pty Ltd", "51824753556", ("acmefreight.example.com",))
NAME_ONLY = Organisation("O-B", "Brightwater Plumbing Services", None)
DIRECTORY = [MOTHER, FATHER, STRANGER]


def who(clues: Clues, orgs: list[Organisation] | None = None) -> Identified:
    return identify(clues, DIRECTORY, orgs or [ACME, NAME_ONLY], 85)


def test_agreement_goes_to_the_parent_who_sent_it_not_the_other_parent() -> None:
    """seed 001 line 26: attached to the customer who has sent in the agreement."""
    sent = who(Clues(crns=("111222333A", "444555666B"), sender="dan.okafor@example.net"))
    decision = decide(Item("email", document_type="agreement_non_initiating"), sent, CTX)
    assert (decision.queue, decision.customer_ids) == ("agreements", ["C-F"])
    assert any("not on the other party's record (C-M)" in r for r in decision.reasons)


def test_agreement_sent_for_a_parent_not_on_file_never_goes_to_the_other_parent() -> None:
    """seed 001 line 26: "Do not attach it to the other parent's record", even when that
    parent is the only one on file (a solicitor writes for a mother the directory lacks)."""
    clues = Clues(
        crns=("444555666B",),
        sender="reception@harbourlaw.example.com",
        writers=(WriterClue("Mei", "Tanaka", "client"),),
    )
    decision = decide(Item("email", document_type="agreement_initiating"), who(clues), CTX)
    assert decision.queue == "unidentified-customer" and decision.customer_ids == []
    assert any("never go on the other party's record" in r for r in decision.reasons)


def test_agreement_signed_by_the_parent_writing_I_goes_to_that_parent() -> None:
    """seed 001 line 26 (sent in by the customer): the signatory names themselves."""
    clues = Clues(crns=("111222333A", "444555666B"), writers=(WriterClue("Priya", "Raman", "signatory", False),))
    decision = decide(Item("scan", document_type="agreement_initiating"), who(clues), CTX)
    assert (decision.queue, decision.customer_ids) == ("agreements", ["C-M"])


def test_a_writer_named_alone_identifies_no_one() -> None:
    assert who(Clues(writers=(WriterClue("Priya", "Raman"),))).customers == ()


def test_parents_of_one_case_are_not_multiple_customers() -> None:
    """seed 001 line 99: multiple customers means unrelated customers, not the two parents of a case."""
    from_mother = who(Clues(crns=("111222333A", "444555666B"), sender="priya.r@example.org"))
    decision = decide(Item("email", document_type="change_of_circumstances"), from_mother, CTX)
    assert (decision.queue, decision.customer_ids) == ("correspondence", ["C-M"])
    unknown_sender = who(Clues(crns=("111222333A", "444555666B")))
    decision = decide(Item("scan", document_type="change_of_circumstances"), unknown_sender, CTX)
    assert (decision.queue, decision.customer_ids) == ("correspondence", ["C-M", "C-F"])
    assert any("parents of one case (K-7)" in r for r in decision.reasons)


def test_unrelated_customers_are_multiple_customers() -> None:
    """seed 001 line 99: multiple unrelated customers listed in the one scan."""
    decision = decide(
        Item("scan", document_type="change_of_circumstances"), who(Clues(crns=("111222333A", "777888999C"))), CTX
    )
    assert decision.queue == "multiple-customers"


def test_several_forms_of_one_customer_scanned_together_are_multiple_customers() -> None:
    """seed 001 line 99: "or multiple forms for the same customer have been scanned together"."""
    one = who(Clues(crns=("777888999C",)))
    forms = Item("scan", document_type="change_of_circumstances", several_forms=True)
    decision = decide(forms, one, CTX)
    assert (decision.queue, decision.exemption, decision.customer_ids) == ("multiple-customers", True, ["C-S"])
    assert "several forms of one customer scanned together (seed 001 line 99)" in decision.reasons
    assert decide(replace(forms, several_forms=False), one, CTX).queue == "correspondence"
    # no customer: found by no one, as before; a restricted customer's or an unclear scan first
    assert decide(forms, who(Clues()), CTX).queue == "unidentified-customer"
    guarded = Identified((replace(STRANGER, racs_level=1),))
    assert decide(forms, guarded, CTX).queue == "racs"
    assert decide(replace(forms, ocr_confidence=20.0), one, CTX).queue == "review-image"


EMPLOYEES = ("111222333A", "777888999C")


def test_employer_deductions_for_several_customers_go_to_the_employer_however_it_is_found() -> None:
    """seed 001 line 97: employer deduction correspondence with several customers goes to the
    employer's record, the employer found by ABN, registered sender, domain or name."""
    acme_sender = Organisation("O-A", "Acme Freight Pty Ltd", None, (), sender_addresses=("pay@acme-hq.example.org",))
    ways = {
        "ABN": (Clues(crns=EMPLOYEES, abns=("51824753556",)), [ACME]),
        "domain": (Clues(crns=EMPLOYEES, sender="payroll@acmefreight.example.com"), [ACME]),
        "registered sender": (Clues(crns=EMPLOYEES, sender="pay@acme-hq.example.org"), [acme_sender]),
        "name": (Clues(crns=EMPLOYEES, organisation_names=("ACME FREIGHT PTY. LTD",)), [ACME]),
    }
    item = Item("email", document_type="employer_deduction", employer_correspondence=True, deductions=("standard",))
    for how, (clues, orgs) in ways.items():
        decision = decide(item, who(clues, orgs), CTX)
        assert (decision.queue, decision.organisation_id) == ("employer", "O-A"), how
    unknown = decide(item, who(Clues(crns=EMPLOYEES, sender="pay@elsewhere.example.com")), CTX)
    assert unknown.queue == "unidentified-employer"


def test_an_employer_only_named_in_a_customers_own_letter_is_not_attached() -> None:
    """seed 001 lines 151-156: a parent writing about deductions from their own pay (the employer's
    ABN on the payslip they enclose) writes their own correspondence; the employer is attached
    when it sent the item, whatever else names it."""
    own = who(Clues(crns=("444555666B",), abns=("51824753556",), sender="dan.okafor@example.net"))
    assert own.organisation is None and own.customer_ids == ["C-F"]
    assert "organisation O-A is only named by the customer who sent it" in own.reasons
    decision = decide(Item("email", document_type="employer_deduction"), own, CTX)
    assert (decision.customer_ids, decision.organisation_id) == (["C-F"], None)
    sent = who(Clues(crns=("444555666B",), abns=("51824753556",), sender="payroll@acmefreight.example.com"))
    assert sent.organisation == ACME


def test_s72a_deductions_alone_are_multiple_customers_unless_with_standard_deductions() -> None:
    """seed 001 line 97: this does not apply to S72a notices, unless included with standard
    employer deductions paid through the employer account."""
    found = who(Clues(crns=EMPLOYEES, abns=("51824753556",)))
    only = decide(
        Item("email", document_type="employer_deduction", employer_correspondence=True, deductions=("s72a",)),
        found,
        CTX,
    )
    assert only.queue == "multiple-customers" and any("s72A" in r for r in only.reasons)
    mixed = decide(
        Item(
            "email", document_type="employer_deduction", employer_correspondence=True, deductions=("s72a", "standard")
        ),
        found,
        CTX,
    )
    assert mixed.queue == "employer"


def test_any_employer_correspondence_with_an_unknown_employer_is_unidentified_employer() -> None:
    """seed 001 lines 151-156: unidentified employer covers employer correspondence, not only deductions."""
    item = Item("email", document_type="change_of_circumstances", employer_correspondence=True)
    decision = decide(item, who(Clues(crns=("777888999C",), sender="hr@unknown-co.example.com")), CTX)
    assert decision.queue == "unidentified-employer"
    known = decide(item, who(Clues(crns=("777888999C",), sender="hr@acmefreight.example.com")), CTX)
    assert (known.queue, known.organisation_id, known.customer_ids) == ("employer", "O-A", [])
    assert any("employer correspondence" in r for r in known.reasons)


def test_employer_correspondence_goes_on_the_employers_record_not_its_employees() -> None:
    """SPEC rule 10 (attached to the identified customer or organisation); seed 001 line 97:
    employer deduction correspondence goes to the employer organisation record. The employees it
    names are identified (rules before the matrix see them: RACS, multiple customers) but not
    attached; a customer who sends a letter from the employer's domain keeps it."""
    item = Item("email", document_type="employer_deduction", employer_correspondence=True, deductions=("standard",))
    one = decide(item, who(Clues(crns=("777888999C",), sender="payroll@acmefreight.example.com")), CTX)
    assert (one.queue, one.organisation_id, one.customer_ids) == ("employer", "O-A", [])
    assert "employer correspondence: not on the records of the customers it names (1)" in one.reasons
    from_work = Customer("C-W", "123123123W", "Wes", "Tran", "1980-01-01", ("wes.tran@acmefreight.example.com",))
    own = identify(Clues(crns=("123123123W",), sender="wes.tran@acmefreight.example.com"), [from_work], [ACME], 85)
    mine = decide(Item("email", document_type="employer_deduction"), own, CTX)
    assert (mine.customer_ids, mine.organisation_id) == (["C-W"], "O-A")


def test_a_customer_writing_about_their_employer_is_not_employer_correspondence() -> None:
    item = Item("email", document_type="change_of_circumstances", employer_correspondence=True)
    decision = decide(item, who(Clues(sender="priya.r@example.org")), CTX)
    assert (decision.queue, decision.customer_ids) == ("correspondence", ["C-M"])


def test_an_employer_named_only_by_name_is_found_on_edc_but_not_by_an_unregistered_secure_sender() -> None:
    """seed 001 line 156 (employer denotes an employer or organisation); seed 000: registration decides on secure."""
    clues = Clues(organisation_names=("Brightwater Plumbing",), sender="accounts@gmail.example.com")
    assert identify(clues, [], [NAME_ONLY], 85).organisation == NAME_ONLY
    assert identify(clues, [], [NAME_ONLY], 85, secure_mailbox=True).organisation is None
    assert identify(Clues(organisation_names=("Brightside Cafe",)), [], [NAME_ONLY], 85).organisation is None


def test_a_parent_writing_about_deductions_from_their_pay_stays_with_the_parent() -> None:
    """seed 001 lines 151-156 are about employers' mail; a customer's own letter is not one."""
    item = Item("email", document_type="employer_deduction", employer_correspondence=True, deductions=("standard",))
    decision = decide(item, who(Clues(sender="dan.okafor@example.net")), CTX)
    assert (decision.queue, decision.customer_ids) == ("employer", ["C-F"])


# -- who sent a two-party document: the evidence in ranks (issue 14, session 14) --

STATEMENTS = (WriterClue("Priya", "Raman", "signatory", False), WriterClue("Daniel", "Okafor", "signatory", False))


def test_the_from_address_of_an_identified_customer_decides_who_sent_it() -> None:
    """seed 001 line 26: the customer who has sent in the agreement. The father writes from his
    address; the mother's signatory line in the agreement does not make her a sender too."""
    clues = Clues(crns=("111222333A", "444555666B"), sender="dan.okafor@example.net", writers=STATEMENTS)
    decision = decide(Item("email", document_type="agreement_initiating"), who(clues), CTX)
    assert (decision.queue, decision.customer_ids) == ("agreements", ["C-F"])


def test_an_agreements_signatory_lines_naming_both_parents_show_nothing() -> None:
    """seed 001 line 26: "Do not attach it to the other parent's record". A father not on file
    sends an agreement in which both parents write "I, ..., of": only the mother is on file."""
    mother_only = [MOTHER, STRANGER]
    clues = Clues(crns=("111222333A",), sender="someone@gmail.example.com", writers=STATEMENTS)
    found = identify(clues, mother_only, [], 85)
    assert found.senders == () and any("2 people named alike" in r for r in found.reasons)
    decision = decide(Item("email", document_type="agreement_initiating"), found, CTX)
    assert (decision.queue, decision.customer_ids) == ("unidentified-customer", [])


def test_the_covering_messages_writer_outranks_the_documents_own_lines() -> None:
    """seed 001 line 26: the covering email is signed by a father not on file; the enclosed
    agreement carries only the mother's statement. The writer of the covering message sent it."""
    clues = Clues(
        crns=("111222333A",),
        writers=(WriterClue("Rangi", "Tipene", "sign_off", True), WriterClue("Priya", "Raman", "signatory", False)),
    )
    decision = decide(Item("email", document_type="agreement_initiating"), identify(clues, [MOTHER], [], 85), CTX)
    assert (decision.queue, decision.customer_ids) == ("unidentified-customer", [])
    client = Clues(
        crns=("111222333A", "444555666B"), writers=(WriterClue("Priya", "Raman", "client", True), *STATEMENTS)
    )
    decision = decide(Item("email", document_type="agreement_draft"), who(client), CTX)
    assert (decision.queue, decision.customer_ids) == ("agreements", ["C-M"])


def test_a_scanned_covering_letter_outranks_the_agreements_signatory_lines() -> None:
    """seed 001 line 26, a scan: the letter's sign-off names the father, the agreement both."""
    clues = Clues(
        crns=("111222333A", "444555666B"), writers=(WriterClue("Daniel", "Okafor", "sign_off", False), *STATEMENTS)
    )
    decision = decide(Item("scan", document_type="agreement_initiating"), who(clues), CTX)
    assert (decision.queue, decision.customer_ids) == ("agreements", ["C-F"])


# -- employer correspondence (issue 14, session 14) --


def test_an_identified_employers_general_correspondence_goes_to_the_employers_record() -> None:
    """seed 001 lines 97 and 156: an employer's letter that its employee resigned and the final
    deduction was made goes to the employer's record, whether or not it was typed a deduction;
    a court document an employer sends keeps the court team."""
    found = who(Clues(crns=("777888999C",), abns=("51824753556",)))
    for typed in (None, "change_of_circumstances"):
        decision = decide(Item("email", document_type=typed, employer_correspondence=True), found, CTX)
        assert (decision.queue, decision.organisation_id) == ("employer", "O-A"), typed
    court = decide(Item("email", document_type="subpoena", employer_correspondence=True, priority=True), found, CTX)
    assert court.queue == "court"


def test_an_employer_named_without_its_legal_suffix_is_found_carefully() -> None:
    """seed 001 line 97: the employer identified "by name"; fuzzy but careful (issue 14)."""
    assert organisation_name_score("Sunraysia Citrus Growers Pty Ltd", "Sunraysia Citrus Growers deductions") == 100
    assert organisation_name_score("Sunraysia Citrus Growers Pty Ltd", "Sunraysia Citrus Grower") >= 90
    assert organisation_name_score("Brightwater Plumbing Services", "Brightwater Plumbing") == 100
    assert organisation_name_score("Precision Payroll Services Pty Ltd", "Payroll Services") < 90
    assert organisation_name_score("Baxter Pty Ltd", "Tom Baxter") < 90
    clues = Clues(crns=EMPLOYEES, organisation_names=("Sunraysia Citrus Growers", "Tom Baxter"))
    sunraysia = Organisation("O-S", "Sunraysia Citrus Growers Pty Ltd", None)
    baxter = Organisation("O-X", "Baxter Pty Ltd", None)
    item = Item("email", document_type="employer_deduction", employer_correspondence=True, deductions=("standard",))
    decision = decide(item, who(clues, [baxter, sunraysia]), CTX)
    assert (decision.queue, decision.organisation_id) == ("employer", "O-S")


def test_a_name_with_a_typographic_apostrophe_is_the_same_name() -> None:
    """seed 001 line 26 (the customer who sent it): a directory's "O’Neill" (as typed in Word) is
    the "O'Neill" a letter's sign-off gives."""
    mother = Customer("C-O", "135792468K", "Siobhan", "O\u2019Neill", "1985-05-05", case_ids=("K-3",))
    father = Customer("C-P", "246813579L", "Paul", "Gray", "1983-03-03", case_ids=("K-3",))
    clues = Clues(crns=("135792468K", "246813579L"), writers=(WriterClue("Siobhan", "O'Neill", "sign_off"),))
    decision = decide(
        Item("email", document_type="agreement_initiating"), identify(clues, [mother, father], [], 85), CTX
    )
    assert (decision.queue, decision.customer_ids) == ("agreements", ["C-O"])


def test_a_client_named_by_title_and_family_name_is_the_sender_when_one_customer_has_it() -> None:
    """seed 001 line 26 (sent on the customer's behalf): "We act for Ms Raman" names the mother; a
    family name shared by both identified parents shows nothing, and a person decides."""
    clues = Clues(crns=("111222333A", "444555666B"), writers=(WriterClue("", "Raman", "client"),))
    decision = decide(Item("email", document_type="agreement_initiating"), who(clues), CTX)
    assert (decision.queue, decision.customer_ids) == ("agreements", ["C-M"])
    sister = Customer("C-R", "999888777Z", "Anita", "Raman", "1990-09-09", case_ids=("K-7",))
    both = identify(Clues(crns=("111222333A", "999888777Z"), writers=clues.writers), [MOTHER, sister], [], 85)
    assert both.senders == () and any("who sent it is not shown" in r for r in both.reasons)
