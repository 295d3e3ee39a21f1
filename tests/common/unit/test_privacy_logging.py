"""Logs never carry personal details (SPEC 5, Privacy)."""

from __future__ import annotations

import json
import logging

from mailintake_common.observability import PrivacyJsonFormatter

PERSONAL = "jane.citizen@example.org"


def formatted(**kwargs: object) -> dict[str, object]:
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "sender %s failed", (PERSONAL,), None)
    for key, value in kwargs.items():
        setattr(record, key, value)
    line = PrivacyJsonFormatter("intake").format(record)
    assert PERSONAL not in line
    return json.loads(line)


def test_message_arguments_are_never_interpolated() -> None:
    assert formatted()["msg"] == "sender %s failed"


def test_extra_fields_outside_the_safe_list_are_dropped() -> None:
    line = formatted(sender=PERSONAL, document_id="d1", count=3)
    assert line["document_id"] == "d1" and line["count"] == 3
    assert "sender" not in line


def test_exceptions_are_reduced_to_their_class() -> None:
    try:
        raise ValueError(f"bad address {PERSONAL}")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = PrivacyJsonFormatter("intake").format(record)
    assert PERSONAL not in line
    assert json.loads(line)["exception"] == "ValueError"


def test_plain_text_logs_keep_the_same_rules() -> None:
    """`MAILINTAKE_LOG_JSON=false` used to print `%(message)s`, the arguments filled in."""
    from mailintake_common.observability import PrivacyTextFormatter

    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "sender %s failed", (PERSONAL,), None)
    record.sender = PERSONAL
    record.document_id = "d1"
    line = PrivacyTextFormatter("intake").format(record)
    assert PERSONAL not in line
    assert "WARNING t sender %s failed" in line and "document_id=d1" in line


def test_a_line_carries_every_allowed_field_it_was_given_and_the_process_service() -> None:
    """Issue 18: the allowed fields are found in one pass (a line per consumed event); the line
    is the same: each safe field given, the process's service name (never the record's), and a
    `trace_id` given as None left out."""
    from mailintake_common.observability import SAFE_FIELDS

    given = {key: f"value of {key}" for key in SAFE_FIELDS}
    line = formatted(**given, sender=PERSONAL)
    assert line["service"] == "intake"
    assert {key: line[key] for key in SAFE_FIELDS - {"service"}} == {k: v for k, v in given.items() if k != "service"}
    assert set(line) == SAFE_FIELDS | {"ts", "level", "logger", "msg"}
    assert "trace_id" not in formatted(trace_id=None)
