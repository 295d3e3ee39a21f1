"""The decisions bench's parts that decide its figures (session 14): how an outsider's expectation
is compared with a document's status, how an item becomes an email, the order items are posted in,
and how checks are counted. The sets themselves run through the pipeline in `python -m bench decisions`."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest

from bench import bench_decisions as decisions

ROUTED = {
    "status": "routed",
    "routing": {
        "queue": "court",
        "category": "court",
        "priority": True,
        "customer_ids": ["c-1"],
        "organisation_id": None,
    },
    "classification": {"identifiers": {"crn": ["204 123 456K"], "abn": ["51824753556"]}},
}


def test_a_matrix_expectation_takes_any_queue_that_is_not_an_exemption() -> None:
    checks = decisions.compare({"queue": "matrix:courts", "priority": True, "customer_ids": ["c-1"]}, ROUTED)
    assert checks == {"queue": True, "priority": True, "customers": True, "pending_delete": True}


def test_each_missed_expectation_is_its_own_check() -> None:
    expect = {"queue": "unidentified-customer", "priority": False, "customer_ids": [], "pending_delete": True}
    checks = decisions.compare(expect, ROUTED)
    assert checks == {"queue": False, "priority": False, "customers": False, "pending_delete": False}


def test_a_tfn_shown_in_any_form_is_not_masked_and_a_crn_or_abn_is_found_however_spaced() -> None:
    shown = {**ROUTED, "timeline": [{"reasons": ["tfn 123456782"]}]}
    checks = decisions.compare({"masked": ["123 456 782"], "kept": ["204123456k"]}, shown)
    assert checks["masked 123 456 782"] is False
    assert checks["kept 204123456k"] is True
    assert decisions.compare({"kept": ["999999999X"]}, ROUTED)["kept 999999999X"] is False
    assert decisions.compare({"kept": ["51 824 753 556"]}, ROUTED)["kept 51 824 753 556"] is True


def test_an_item_becomes_an_email_with_its_headers_attachments_and_a_unique_message_id() -> None:
    item = {
        "from": "A <a@example.org>",
        "subject": "Remittance",
        "message_id": "<m1@example.org>",
        "headers": {"Auto-Submitted": "auto-generated"},
        "body": "Deductions attached.",
        "attachments": [{"filename": "list.txt", "text": "one, two"}],
    }
    msg = email.message_from_bytes(decisions.raw_email(item, "run7"), policy=policy.default)
    assert msg["Message-ID"] == "<m1.run7@example.org>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert [p.get_filename() for p in msg.iter_attachments()] == ["list.txt"]


def test_a_delivery_report_is_a_multipart_report_with_a_status_part() -> None:
    raw = decisions.raw_email({"content_type": "multipart/report", "body": "Undeliverable"}, "t")
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "message/delivery-status"]


def test_a_read_receipt_is_a_multipart_report_with_a_disposition_notification() -> None:
    item = {"content_type": "multipart/report; report-type=disposition-notification", "body": "Read"}
    msg = email.message_from_bytes(decisions.raw_email(item, "t"), policy=policy.default)
    assert msg.get_param("report-type") == "disposition-notification"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "message/disposition-notification"]


def test_an_item_that_follows_another_is_posted_after_everything_else() -> None:
    items = [{"id": "b", "after": "a"}, {"id": "a"}, {"id": "c", "after": "not-in-this-run"}]
    assert [i["id"] for i in decisions.in_order(items)] == ["a", "c", "b"]


def test_checks_are_counted_by_kind_and_uncertain_items_apart() -> None:
    results = [
        {"uncertain": False, "checks": {"queue": True, "masked 1": True, "masked 2": False}},
        {"uncertain": True, "checks": {"queue": False}},
    ]
    by = decisions.tally(results)
    assert by["firm"] == {"item": [0, 1], "queue": [1, 1], "masked": [1, 2]}
    assert by["uncertain"] == {"item": [0, 1], "queue": [0, 1]}


@pytest.mark.parametrize("path", [p for p in decisions.SETS.values() if p.exists()], ids=lambda p: p.name)
def test_every_item_of_a_set_can_be_posted(path: Path) -> None:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len({i["id"] for i in items}) == len(items)
    for item in items:
        assert "expect" in item
        if item["channel"] == "email":
            assert email.message_from_bytes(decisions.raw_email(item["email"], "t"))["Message-ID"]
        else:
            assert set(item["webform"]) >= {"form_type", "fields"}
