"""An officer's reroute may attach customers or an organisation (SPEC 3 "Work after routing"),
and a waiting item is routed again once the directory knows it (seed 001 line 148; issue 14)."""

from __future__ import annotations

import pytest

from mailintake_common.domain_errors import Invalid
from mailintake_routing.domain.model import Customer, Decision, Organisation
from mailintake_routing.domain.reroute import (
    RerouteRequest,
    check_target,
    identified_again,
    reasons_for_events,
    rerouted,
)

ITEM = {
    "queue": "unidentified-customer",
    "sub_category": None,
    "priority": False,
    "due_by": None,
    "customer_ids": [],
    "organisation_id": None,
    "reasons": ["child support related, good quality, but no customer identified"],
    "racs_level": 0,
}
GUARDED = Customer("C-G", "123123123A", "Ari", "Shield", None, racs_level=2)
EMPLOYER = Organisation("O-1", "Widgets", None)


def test_reroute_attaches_customers_and_takes_their_racs_level() -> None:
    """SPEC 3 "Work after routing" (issue 14): a reroute may attach customers; seed 001 lines 121-124 (RACS)."""
    request = RerouteRequest("correspondence", "found by phone", "key k1", ["C-G"])
    decision = rerouted(ITEM, request, [GUARDED], None)
    assert (decision.queue, decision.customer_ids, decision.racs_level) == ("correspondence", ["C-G"], 2)
    assert "rerouted from unidentified-customer by key k1: found by phone (customers C-G attached)" in decision.reasons


def test_reroute_attaches_an_organisation() -> None:
    """SPEC 3 "Work after routing" (issue 14); seed 001 line 156 (an employer or organisation record)."""
    decision = rerouted(ITEM, RerouteRequest("employer", "payroll letter", "key k1", None, "O-1"), [], EMPLOYER)
    assert (decision.organisation_id, decision.customer_ids) == ("O-1", [])


def test_reroute_refuses_unknown_ids_and_queues() -> None:
    """SPEC 3: only directory records and known queues; a domain error the web layer maps to 422."""
    with pytest.raises(Invalid) as unknown_customer:
        rerouted(ITEM, RerouteRequest("correspondence", "x", "key k1", ["C-NOPE"]), [], None)
    assert unknown_customer.value.code == "unknown_customer"
    with pytest.raises(Invalid) as unknown_org:
        rerouted(ITEM, RerouteRequest("employer", "x", "key k1", None, "O-NOPE"), [], None)
    assert unknown_org.value.code == "unknown_organisation"
    with pytest.raises(Invalid) as unknown_queue:
        check_target("nowhere", ["correspondence"])
    assert unknown_queue.value.code == "unknown_queue"


def test_an_item_found_after_a_directory_change_is_routed_again_with_the_reason() -> None:
    """seed 001 line 148: check if the customer can be identified at a future date."""
    found = Decision("correspondence", "correspondence", "general", customer_ids=["C-1"], reasons=["matrix"])
    again = identified_again("unidentified-customer", found, "customer records updated")
    assert again is not None and again.reasons[0].startswith("identified again after a directory update")
    still = Decision("unidentified-customer", "unidentified-customer", None, True)
    assert identified_again("unidentified-customer", still, "customer records updated") is None


def test_an_officers_reroute_reason_stays_off_the_topics() -> None:
    """Issue 15 (personal details stay in the database): the reason is the officer's own words."""
    request = RerouteRequest("correspondence", "her sister Dana rang, it's about Dana's son", "key k1", ["C-G"])
    decision = rerouted(ITEM, request, [GUARDED], None)
    published = reasons_for_events(decision.reasons)
    assert not any("Dana" in r for r in published)
    assert published == [
        ITEM["reasons"][0],
        "rerouted from unidentified-customer by an officer (reason on the document)",
    ]
    assert any("Dana" in r for r in decision.reasons)  # the document keeps the words
