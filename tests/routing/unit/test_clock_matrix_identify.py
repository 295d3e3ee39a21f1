"""The business-day clock, the matrix loader and identification."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mailintake_routing.domain.clock import HolidayCalendar, due_by, next_business_day
from mailintake_routing.domain.identify import Clues, identify
from mailintake_routing.domain.matrix import REQUIRED_TYPES, MatrixError, default_matrix, load_matrix
from mailintake_routing.domain.model import Customer, Organisation


def test_next_business_day_skips_weekends_and_holidays() -> None:
    assert next_business_day(date(2026, 11, 24), set()) == date(2026, 11, 25)  # Tue -> Wed
    assert next_business_day(date(2026, 11, 27), set()) == date(2026, 11, 30)  # Fri -> Mon
    assert next_business_day(date(2026, 12, 24), HolidayCalendar("AU", "ACT", [])) == date(2026, 12, 29)


def test_due_by_is_end_of_next_business_day_local_time() -> None:
    routed = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # Saturday 10:30 in Canberra
    due = due_by(routed, set(), "Australia/Canberra")
    assert due == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 17:00 AEDT


def test_extra_holidays_are_respected() -> None:
    calendar = HolidayCalendar("AU", "ACT", [date(2026, 11, 25)])
    assert next_business_day(date(2026, 11, 24), calendar) == date(2026, 11, 26)


def test_default_matrix_covers_every_spec_type() -> None:
    matrix = default_matrix()
    assert set(matrix.routes) >= REQUIRED_TYPES
    assert matrix.route_for("employer_deduction").attach == "organisation"
    assert matrix.route_for(None) == matrix.default


def test_matrix_loader_rejects_incomplete_or_malformed_files() -> None:
    with pytest.raises(MatrixError, match="lacks document types"):
        load_matrix({"version": 2, "default": {"category": "x"}, "types": {"objection": {"category": "a"}}})
    with pytest.raises(MatrixError, match="malformed"):
        load_matrix({"types": {}})


CUSTOMERS = [
    Customer("C-1", "123456789A", "Alex", "Demo", "1985-04-12", ("alex@example.org",)),
    Customer("C-2", "987654321B", "Samantha", "Sample", "1990-09-30"),
]
ORGS = [
    Organisation("O-1", "Widgets", "51824753556", ("widgets.example.com",), "employer", True),
    Organisation("O-2", "Dept", None, ("dept.gov.au",), "government"),
    Organisation("O-3", "NZ IRD", None, (), "overseas_entity", True, sender_addresses=("officer@ird.example.nz",)),
]


def test_customers_by_crn_email_and_fuzzy_name_with_dob() -> None:
    who = identify(Clues(crns=("123456789A",)), CUSTOMERS, [], 85)
    assert who.customer_ids == ["C-1"] and "by CRN" in who.reasons[0]
    assert identify(Clues(sender="Alex@Example.org"), CUSTOMERS, [], 85).customer_ids == ["C-1"]
    ocr_name = identify(Clues(people=(("Samantba", "Sarnple", "1990-09-30"),)), CUSTOMERS, [], 85)
    assert ocr_name.customer_ids == ["C-2"]
    wrong_dob = identify(Clues(people=(("Samantha", "Sample", "1990-09-29"),)), CUSTOMERS, [], 85)
    assert wrong_dob.customer_ids == []


def test_organisations_by_abn_address_then_domain() -> None:
    assert identify(Clues(abns=("51824753556",)), [], ORGS, 85).organisation.organisation_id == "O-1"  # type: ignore[union-attr]
    assert identify(Clues(sender="pay@widgets.example.com"), [], ORGS, 85).organisation.organisation_id == "O-1"  # type: ignore[union-attr]
    assert identify(Clues(sender="officer@ird.example.nz"), [], ORGS, 85).organisation.organisation_id == "O-3"  # type: ignore[union-attr]


def test_secure_mailbox_needs_a_registered_secure_or_government_sender() -> None:
    plain = replace_org = Organisation("O-9", "Plain", None, ("plain.example.com",), "employer", False)
    assert identify(Clues(sender="a@plain.example.com"), [], [plain], 85, secure_mailbox=True).organisation is None
    assert identify(Clues(sender="a@plain.example.com"), [], [replace_org], 85).organisation is not None
    assert identify(Clues(sender="x@dept.gov.au"), [], ORGS, 85, secure_mailbox=True).organisation is not None
    refused = identify(Clues(sender="a@plain.example.com"), [], [plain], 85, secure_mailbox=True)
    assert any("not registered for secure messaging" in r for r in refused.reasons)
