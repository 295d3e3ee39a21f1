"""The level routed work takes when an attached customer's RACS level changes (issue 15)."""

from __future__ import annotations

from mailintake_common.documents import effective_racs_level
from mailintake_routing.domain.racs import relevelled


def test_raising_one_customer_raises_work_to_the_highest_level_attached() -> None:
    assert relevelled(0, ["a", "b"], {"a": 2, "b": 0}, lowers=True) == 2


def test_lowering_follows_the_directory_unless_configured_not_to() -> None:
    assert relevelled(3, ["a"], {"a": 1}, lowers=True) == 1
    assert relevelled(3, ["a"], {"a": 1}, lowers=False) is None


def test_lowering_one_customer_keeps_work_at_another_attached_customers_level() -> None:
    assert relevelled(3, ["a", "b"], {"a": 0, "b": 2}, lowers=True) == 2


def test_unchanged_levels_leave_work_alone() -> None:
    assert relevelled(2, ["a"], {"a": 2}, lowers=True) is None


def test_a_customer_missing_from_the_directory_never_lowers_work() -> None:
    assert relevelled(2, ["a", "gone"], {"a": 0}, lowers=True) is None


def test_an_alert_whose_customer_is_unknown_stays_at_the_unknown_floor() -> None:
    assert relevelled(3, ["a"], {"a": 0}, lowers=True, floor=3) is None


def test_a_level_not_yet_known_needs_racs3() -> None:
    assert effective_racs_level(None) == 3
    assert effective_racs_level(0) == 0 and effective_racs_level(2) == 2
