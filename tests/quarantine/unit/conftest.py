"""Screening helpers shared by the quarantine unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailintake_quarantine.adapters.inspector import ContentInspector
from mailintake_quarantine.domain.rules import Limits
from mailintake_quarantine.domain.screening import InputPart, Screening, screen_item

MiB = 1024 * 1024
LIMITS = Limits(
    email_bytes=8 * MiB,
    attachment_bytes=4 * MiB,
    max_depth=3,
    max_files=1000,
    max_total_bytes=200 * MiB,
    max_ratio=100.0,
    image_max_pixels=100_000_000,
    max_member_bytes=64 * MiB,
)


def screen_email(raw: bytes, limits: Limits = LIMITS, waive_size: bool = False) -> Screening:
    return screen_item([InputPart("p0", "raw_email", raw)], ContentInspector(), limits, waive_size=waive_size)


def screen_attachment(filename: str, content: bytes, declared: str = "application/octet-stream") -> Screening:
    return screen_item([InputPart("p1", "attachment", content, filename, declared)], ContentInspector(), LIMITS)


def rules(screening: Screening) -> set[str]:
    return {f.rule for f in screening.findings}


@pytest.fixture
def attach() -> Callable[..., Screening]:
    return screen_attachment
