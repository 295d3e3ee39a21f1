"""Routing's and the classifier's OpenAPI, fuzzed: whatever is sent, never a 500.
(Intake and quarantine have theirs beside their own tests.)"""

from __future__ import annotations

import pytest

from tests.support.openapi import fuzz_service
from tests.support.stack import Service


@pytest.mark.parametrize(("name", "operations"), [("routing", 8), ("classifier", 3)])
def test_no_input_makes_the_service_fail_with_a_server_error(
    stack: dict[str, Service], name: str, operations: int
) -> None:
    assert fuzz_service(stack[name]) >= operations
