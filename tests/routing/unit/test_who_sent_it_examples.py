"""Session 14's own examples of who sent a two-party document and of employer correspondence
(tests/routing/data/who_sent_it_examples.yaml; issue 14, seed 001 lines 26, 97-99, 151-156),
each through the classifier's `classify()` and the event it makes, then routing's `identify()`
and `decide()` with the default settings: the classified event is the one the classifier
publishes and routing reads, so what crosses between the services is what is tested here
(the look-up of candidates in PostgreSQL is left out: the whole directory is the candidates)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mailintake_classifier.domain.classify import ItemText, Section, classify
from mailintake_classifier.domain.quality import PageReading
from mailintake_classifier.handlers import classified_payload
from mailintake_common.events import DocumentScreenedV1, EmailFacts
from mailintake_routing.domain.identify import identify
from mailintake_routing.domain.matrix import default_matrix
from mailintake_routing.domain.model import Customer, Decision, Organisation
from mailintake_routing.domain.rules import Context, decide
from mailintake_routing.handlers import clues_of, item_of
from mailintake_routing.settings import RoutingSettings

DATA = yaml.safe_load((Path(__file__).parents[1] / "data/who_sent_it_examples.yaml").read_text(encoding="utf-8"))
CUSTOMERS = [
    Customer(
        c["customer_id"], c["crn"], c["given_name"], c["family_name"], c["date_of_birth"],
        tuple(c["emails"]), case_ids=tuple(c["case_ids"]),
    )
    for c in DATA["directory"]["customers"]
]  # fmt: skip
ORGANISATIONS = [
    Organisation(
        o["organisation_id"], o["name"], o["abn"], tuple(o["email_domains"]),
        sender_addresses=tuple(o.get("sender_addresses", ())),
    )
    for o in DATA["directory"]["organisations"]
]  # fmt: skip
RECEIVED = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
CTX = Context(default_matrix(), 60.0, lambda _received: datetime(2026, 11, 25, 6, 0, tzinfo=UTC))
SETTINGS = RoutingSettings()


def item_text(example: dict[str, Any]) -> ItemText:
    channel = example["channel"]
    if channel == "scan":
        pages = [PageReading("scan-1", n + 1, text, 90.0, 0.05) for n, text in enumerate(example["pages"])]
        return ItemText("scan", pages=pages)
    if channel == "webform":
        fields = [Section("form fields, field message", text) for text in example["fields"]]
        return ItemText("webform", form_type=example.get("form_type"), sections=fields)
    sections = [Section("subject", example["subject"]), Section("body 1", example["body"])]
    sections += [
        Section(f"attachment {n + 1} document.pdf page 1", text)
        for n, text in enumerate(example.get("attachments", []))
    ]
    return ItemText("email", sections=sections)


def route(example: dict[str, Any]) -> Decision:
    item = item_text(example)
    email = EmailFacts(from_address=example["sender"], subject=example["subject"]) if "sender" in example else None
    screened = DocumentScreenedV1(
        channel=item.channel,
        received_at=RECEIVED,
        mailbox="edc",
        form_type=item.form_type,
        verdict="clear",
        email=email,
    )
    payload = classified_payload(screened, classify(item), "0" * 64, None)
    clues = clues_of(payload)
    who = identify(
        clues,
        CUSTOMERS,
        ORGANISATIONS,
        SETTINGS.name_match_min_score,
        organisation_name_min_score=SETTINGS.organisation_name_min_score,
    )
    return decide(item_of(payload, None, clues.sender_domain), who, CTX)


def outcome(decision: Decision, expect: dict[str, Any]) -> dict[str, Any]:
    found = {"queue": decision.queue, "customers": decision.customer_ids, "organisation": decision.organisation_id}
    return {key: found[key] for key in expect}


@pytest.mark.parametrize("example", DATA["examples"], ids=[e["name"] for e in DATA["examples"]])
def test_example_goes_where_the_seed_says(example: dict[str, Any]) -> None:
    decision = route(example)
    assert outcome(decision, example["expect"]) == example["expect"], decision.reasons


def tally() -> tuple[int, int, list[str]]:
    """(right, all, names of the wrong ones): `python -m tests.routing.unit.test_who_sent_it_examples`."""
    wrong = [e["name"] for e in DATA["examples"] if outcome(route(e), e["expect"]) != e["expect"]]
    return len(DATA["examples"]) - len(wrong), len(DATA["examples"]), wrong


if __name__ == "__main__":
    right, total, wrong = tally()
    print(f"{right}/{total} right")
    for name in wrong:
        print(" wrong:", name)
