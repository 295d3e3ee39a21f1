"""Quarantine's OpenAPI, fuzzed: whatever is sent, the answer is never a 500."""

from __future__ import annotations

from tests.support.openapi import fuzz_service
from tests.support.stack import Service


def test_no_input_makes_quarantine_fail_with_a_server_error(stack: dict[str, Service]) -> None:
    assert fuzz_service(stack["quarantine"]) >= 2
