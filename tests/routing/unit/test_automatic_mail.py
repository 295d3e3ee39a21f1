"""Automatic mail is recognised from its headers (seed 000; issue 9)."""

from __future__ import annotations

import pytest

from mailintake_routing.domain.automatic import automatic_mail


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        ({"subject": "A classified message has been securely delivered"}, "Securemail delivery notice"),
        ({"auto_submitted": "auto-replied"}, "auto-submitted message (auto-replied)"),
        ({"x_auto_response_suppress": "All"}, "automatic reply (X-Auto-Response-Suppress)"),
        ({"precedence": "auto_reply"}, "automatic reply (Precedence: auto_reply)"),
        ({"content_type": "multipart/report", "report_type": "disposition-notification"}, "read receipt"),
    ],
)
def test_each_kind_of_automatic_mail_is_named(facts: dict[str, str], why: str) -> None:
    assert automatic_mail(facts) == why


@pytest.mark.parametrize(
    "facts",
    [
        {"auto_submitted": "no", "subject": "Change of address"},
        {"content_type": "multipart/report", "report_type": "delivery-status"},  # a bounce: returned mail
        {"precedence": "bulk"},
        None,
    ],
)
def test_people_and_delivery_failures_are_not_automatic_mail(facts: dict[str, str] | None) -> None:
    assert automatic_mail(facts) is None
