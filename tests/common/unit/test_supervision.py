"""`make run` restarts a service that exited, with a capped backoff (issue 16; supervision.py)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime

from mailintake_common.supervision import Backoff, RestartPolicy, exit_line, how_it_exited

POLICY = RestartPolicy(initial_s=1.0, max_s=30.0, stable_after_s=60.0)


def test_exits_in_a_row_double_the_delay_up_to_the_cap() -> None:
    backoff = Backoff()
    delays = [backoff.after_exit(POLICY, uptime_s=2.0) for _ in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_service_that_stayed_up_a_while_starts_again_from_the_first_delay() -> None:
    backoff = Backoff()
    for _ in range(4):
        backoff.after_exit(POLICY, uptime_s=1.0)
    assert backoff.after_exit(POLICY, uptime_s=61.0) == 1.0
    assert backoff.exits_in_a_row == 1
    assert backoff.after_exit(POLICY, uptime_s=5.0) == 2.0


def test_the_line_names_the_service_how_it_exited_when_and_when_it_restarts() -> None:
    at = datetime(2026, 12, 1, 8, 5, 9, tzinfo=UTC)
    line = exit_line("classifier", -signal.SIGKILL, at, 2.0, 2)
    assert line == "classifier exited with signal SIGKILL at 08:05:09 UTC; restarting in 2.0 s (exit 2 in a row)"
    assert how_it_exited(1) == "code 1"
    assert how_it_exited(-signal.SIGSEGV) == "signal SIGSEGV"
