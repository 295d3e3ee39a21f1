"""The business-day clock: priority documents are due at the end of the next business day.

Weekends and public holidays (of a configurable country and subdivision, plus extra dates)
are not business days. "Next business day" is the first business day after the day the
document was received, whatever the time it arrived (seed 001 line 134: "on the same day they
are received, but no later than the following business day"): a scan posted days after the
post room opened it counts from the day it was opened, not from when it was routed.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def next_business_day(day: date, holidays: Container[date]) -> date:
    candidate = day + timedelta(days=1)
    while candidate.weekday() >= 5 or candidate in holidays:
        candidate += timedelta(days=1)
    return candidate


def due_by(
    received_at: datetime, holidays: Container[date], timezone: str = "Australia/Canberra", day_end: time = time(17, 0)
) -> datetime:
    """End of the next business day after the day of `received_at`, as an aware UTC datetime."""
    zone = ZoneInfo(timezone)
    local_day = received_at.astimezone(zone).date()
    due_local = datetime.combine(next_business_day(local_day, holidays), day_end, tzinfo=zone)
    return due_local.astimezone(UTC)


def counted_from(received_at: datetime | None, now: datetime) -> datetime:
    """When the clock starts: receipt, as the sender or scanner stated it (seed 001 line 134).

    A receipt time in the future (a scanner's clock running ahead) or none at all counts from
    now, so a due date is never later than the rule allows."""
    if received_at is None:
        return now
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    return min(received_at, now)


class HolidayCalendar:
    """Public holidays (the `holidays` package) plus extra configured dates."""

    def __init__(self, country: str, subdivision: str | None, extra: list[date]) -> None:
        import holidays

        self._public = holidays.country_holidays(country, subdiv=subdivision or None)
        self._extra = set(extra)

    def __contains__(self, day: object) -> bool:
        return day in self._extra or day in self._public
