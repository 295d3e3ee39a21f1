"""Trace context: W3C traceparent in and out, trace ids in logs, stacks without values (issue 16)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from mailintake_common import tracing
from mailintake_common.observability import PrivacyJsonFormatter, code_locations
from mailintake_common.outbox import trace_headers

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def test_a_valid_traceparent_gives_its_trace_and_parent() -> None:
    assert tracing.parse_traceparent(f"00-{TRACE}-{PARENT}-01") == (TRACE, PARENT)
    assert tracing.parse_traceparent(f"00-{TRACE.upper()}-{PARENT}-00") == (TRACE, PARENT)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id is invalid
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent is invalid
        f"ff-{TRACE}-{PARENT}-01",  # version ff is forbidden
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE[:-1]}-{PARENT}-01",
    ],
)
def test_an_invalid_traceparent_is_ignored(value: str | None) -> None:
    assert tracing.parse_traceparent(value) is None


def test_incoming_prefers_traceparent_then_the_legacy_header_then_a_new_id() -> None:
    both = {"traceparent": f"00-{TRACE}-{PARENT}-01", "x-trace-id": "legacy-1"}
    assert tracing.incoming(both, "x-trace-id") == (TRACE, PARENT)
    assert tracing.incoming({"x-trace-id": "legacy-1"}, "x-trace-id") == ("legacy-1", None)
    fresh, parent = tracing.incoming({}, "x-trace-id")
    assert len(fresh) == 32 and parent is None
    for unfit in ("x" * 65, "jane@example.org", "a b", "naïve"):
        replaced, _ = tracing.incoming({"x-trace-id": unfit}, "x-trace-id")
        assert replaced != unfit and len(replaced) == 32


def test_a_legacy_trace_id_has_the_same_w3c_form_everywhere() -> None:
    assert tracing.w3c_trace_id(TRACE) == TRACE
    digest = tracing.w3c_trace_id("trace-abc")
    assert digest == tracing.w3c_trace_id("trace-abc") and len(digest) == 32
    assert tracing.parse_traceparent(tracing.format_traceparent("trace-abc", PARENT)) == (digest, PARENT)


def test_an_outbox_row_written_in_a_span_continues_its_trace() -> None:
    with tracing.span("handle", trace_id=TRACE, parent_span_id=PARENT) as ctx:
        headers = trace_headers(None)
    assert headers["trace_id"] == TRACE
    assert tracing.parse_traceparent(headers["traceparent"]) == (TRACE, ctx.span_id)
    assert ctx.span_id != PARENT


def test_an_outbox_row_written_outside_any_span_starts_a_trace() -> None:
    headers = trace_headers(None)
    trace_id, _ = tracing.parse_traceparent(headers["traceparent"]) or ("", "")
    assert trace_id == headers["trace_id"]


def test_no_exporter_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracing.setup_tracing("intake") is False
    assert tracing._tracer is None and tracing._provider is None


def _line(record: logging.LogRecord) -> dict[str, object]:
    return json.loads(PrivacyJsonFormatter("intake").format(record))


def test_a_log_line_inside_a_span_carries_its_trace_id() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "stored", (), None)
    assert "trace_id" not in _line(record)
    with tracing.span("request", trace_id=TRACE):
        assert _line(record)["trace_id"] == TRACE


def _fail_with(detail: str) -> None:
    secret_local = detail  # noqa: F841 - a value a stack must never show
    raise KeyError(detail)


def test_an_unexpected_error_logs_code_locations_without_values() -> None:
    crn = "205 117 433K"
    try:
        _fail_with(f"customer {crn} unknown")
    except KeyError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "unexpected error", (), sys.exc_info())
    line = _line(record)
    text = json.dumps(line)
    assert crn not in text and "customer" not in text and "secret_local" not in text
    assert line["exception"] == "KeyError"
    stack = line["stack"]
    assert isinstance(stack, list) and stack[-1].endswith(" in _fail_with")
    assert any("test_tracing.py:" in frame for frame in stack)


def test_code_locations_keep_the_innermost_frames_only() -> None:
    def deep(n: int) -> None:
        if n == 0:
            raise RuntimeError("x")
        deep(n - 1)

    try:
        deep(100)
    except RuntimeError:
        frames = code_locations(sys.exc_info()[2])
    assert len(frames) == 40 and frames[-1].endswith(" in deep")
