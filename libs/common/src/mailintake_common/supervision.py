"""How `make run` restarts a service that exited (issue 16): the rule, without the processes.

A crashed service is started again after a delay that doubles with each exit in a row, up to
a cap, so a service that cannot start (a port taken, a database refused) does not spin. A
service that stayed up `stable_after_s` before it exited starts again from the first delay:
a crash once a day is not a crash loop. devrun.py holds the processes and calls these.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RestartPolicy:
    initial_s: float
    max_s: float
    stable_after_s: float

    def delay(self, exits_in_a_row: int) -> float:
        """Seconds to wait before the restart that follows the n-th exit in a row (n >= 1)."""
        return float(min(self.initial_s * 2 ** max(exits_in_a_row - 1, 0), self.max_s))


@dataclass
class Backoff:
    """One service's exits in a row."""

    exits_in_a_row: int = 0

    def after_exit(self, policy: RestartPolicy, uptime_s: float) -> float:
        """Count an exit after `uptime_s` of running; returns the delay before the restart."""
        if uptime_s >= policy.stable_after_s:
            self.exits_in_a_row = 0
        self.exits_in_a_row += 1
        return policy.delay(self.exits_in_a_row)


def how_it_exited(returncode: int) -> str:
    """`code 1`, or `signal SIGKILL` (a negative return code is the signal that ended it)."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


def exit_line(name: str, returncode: int, at: datetime, delay_s: float, exits_in_a_row: int) -> str:
    """The line `make run` prints when a service exits: which, how, when, and when it restarts."""
    return (
        f"{name} exited with {how_it_exited(returncode)} at {at:%H:%M:%S} UTC; "
        f"restarting in {delay_s:.1f} s (exit {exits_in_a_row} in a row)"
    )
