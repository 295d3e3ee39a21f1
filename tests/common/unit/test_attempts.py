"""When the consumer stops trying an event (issue 15): the counts come from PostgreSQL."""

from __future__ import annotations

from mailintake_common.attempts import Tally, give_up

LIMITS = {"max_attempts": 4, "max_worker_failures": 2}
LOST = "WorkerTimedOut: the task ran past its time limit of 300 s"


def test_an_ordinary_failure_is_retried_until_the_attempt_limit() -> None:
    assert give_up(Tally(3, 0, "RuntimeError"), finished=True, **LIMITS) is None
    assert give_up(Tally(4, 0, "RuntimeError"), finished=True, **LIMITS) == "RuntimeError after 4 attempt(s)"


def test_a_lost_worker_gives_up_at_the_worker_limit_even_with_attempts_left() -> None:
    assert give_up(Tally(1, 1, LOST), finished=True, **LIMITS) is None
    assert give_up(Tally(2, 2, LOST), finished=True, **LIMITS) == f"{LOST} after 2 attempt(s), 2 worker failure(s)"


def test_tries_that_never_finished_end_at_the_next_start() -> None:
    """A process that died under the event counted the tries but no outcome."""
    assert give_up(Tally(4, 0), finished=False, **LIMITS) is None  # the fourth try may start
    reason = give_up(Tally(5, 0), finished=False, **LIMITS)
    assert reason == "no outcome (the service stopped while handling it) after 4 attempt(s)"


def test_a_worker_limit_reached_before_a_restart_ends_at_the_next_start() -> None:
    """The dead letter could not be written last time (the database was down): do not try again."""
    assert give_up(Tally(3, 2, LOST), finished=False, **LIMITS) == f"{LOST} after 2 attempt(s), 2 worker failure(s)"
