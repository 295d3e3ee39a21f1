"""The scan bench's arithmetic and its measure of other work on the machine (issue 18, session
13): a round is compared with the raw Tesseract runs on either side of it, and CPU used by
processes outside the bench is counted as other work, the bench's own as not. Nothing is timed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import scans

SPIN = "import time; end = time.process_time() + 1.5\nwhile time.process_time() < end: pass"


def test_each_round_is_compared_with_the_raw_runs_either_side_of_it() -> None:
    assert scans.round_ratios([1.0, 3.0], [1.0, 3.0, 3.0, 3.0]) == [0.5, 1.0]


def test_raw_runs_must_bracket_every_round() -> None:
    with pytest.raises(ValueError):
        scans.round_ratios([1.0, 2.0], [1.0, 2.0, 2.0])


def test_the_spread_is_the_distance_between_the_extreme_rounds() -> None:
    assert scans.spread([0.9, 0.95, 0.93]) == "median 0.930, spread 0.050"


def test_other_work_is_the_machines_cpu_less_the_benchs_own() -> None:
    machine, ours = iter([100.0, 106.0]), iter([40.0, 44.5])
    with scans.Others(lambda: next(ours), lambda: next(machine)) as other:
        pass
    assert other.seconds == pytest.approx(1.5)
    assert other.cores == pytest.approx(1.5 / other.wall)


def test_the_bench_never_counts_negative_other_work() -> None:
    machine, ours = iter([100.0, 101.0]), iter([40.0, 42.0])  # the counters' ticks disagree a little
    with scans.Others(lambda: next(ours), lambda: next(machine)) as other:
        pass
    assert other.seconds == 0.0


def test_waiting_for_quiet_gives_up_at_its_limit() -> None:
    clock = iter(range(0, 1000, 5))  # another process's work: 5 s of CPU every second watched
    waited = scans.wait_quiet(lambda: 0.0, 1.5, machine=lambda: float(next(clock)))
    assert 1.5 <= waited < 10


def test_a_quiet_second_ends_the_wait() -> None:
    waited = scans.wait_quiet(lambda: 0.0, 30, machine=lambda: 7.0)  # nothing else ran
    assert waited < 10


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs /proc")
def test_a_process_outside_the_bench_counts_as_other_work(tmp_path: Path) -> None:
    done = tmp_path / "done"
    program = f"{SPIN}\nopen({str(done)!r}, 'w').close()"
    # started through a shell that leaves at once: the spinner is no child of ours when it ends
    with scans.Others(scans.bench_cpu_s) as other:
        subprocess.run(["/bin/sh", "-c", f'"{sys.executable}" -c "$0" &', program], check=True)
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert done.exists()
    assert other.seconds >= 1.2  # its 1.5 s of CPU (others' work on a shared machine only adds)
