"""`python -m bench --profile`: the flag reaches the recorder, and the recorder leaves a flame
graph of a running Python process (py-spy, issue 18). Nothing here is timed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import profiling

BUSY = """
import time

def count_sheep_for_the_profiler():
    sheep, enough = 0, time.process_time() + 2  # two seconds of its own CPU, then it exits
    while time.process_time() < enough:
        sheep += 1

count_sheep_for_the_profiler()
"""


def test_profile_flag_is_read_apart_from_the_benchmarks_named() -> None:
    assert profiling.parse(["--profile", "pipeline"]) == (True, {"pipeline"})
    assert profiling.parse(["pipeline", "classifier"]) == (False, {"pipeline", "classifier"})


def test_without_the_flag_nothing_is_recorded(tmp_path: Path) -> None:
    with profiling.recording({"self": 1}, tmp_path, enabled=False) as written:
        pass
    assert written == {}
    assert list(tmp_path.iterdir()) == []


def test_profiling_a_python_process_leaves_a_flame_graph_naming_its_function(tmp_path: Path) -> None:
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        with profiling.recording({"sheep": busy.pid}, tmp_path, enabled=True) as written:
            busy.wait(120)  # a short-lived process: py-spy writes its graph when it exits
    finally:
        busy.kill()
        busy.wait()
    assert written == {"sheep": tmp_path / "sheep.svg"}
    svg = written["sheep"].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "count_sheep_for_the_profiler" in svg
