"""Schema-driven fuzzing (schemathesis) of a running service: no input may cause a 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.openapi import from_url

from tests.support.stack import ADMIN_KEY, Service


def fuzz_service(service: Service, max_examples: int = 25) -> int:
    """Fuzz every operation of `service`'s OpenAPI with the admin key; fails on any 5xx.

    Returns how many operations were fuzzed.
    """
    schema = from_url(f"{service.base_url}/openapi.json")
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:
            case.call_and_validate(headers={"X-API-Key": ADMIN_KEY}, checks=[not_a_server_error])

        run()
        operations += 1
    return operations
