"""Flame graphs of the running services: `python -m bench --profile pipeline` (issue 18).

py-spy samples each service process from outside (no change to the service, no import in it),
with `--subprocesses` so the classifier's OCR and part-reading workers are recorded too, while
the saturation run goes on, and writes one SVG per service under test-artifacts/bench-profiles/.
It reads the processes' memory through ptrace: root, or `kernel.yama.ptrace_scope=0`.

On this machine's kernel py-spy cannot tell a waiting thread from a running one, so a graph
also shows threads parked in `select` or `Queue.get` (the event loop, thread pools): read the
handler's own subtree, or record `BENCH_PROFILE_FORMAT=raw` and leave out stacks that end in a
wait. Without the flag nothing starts and the bench runs as before. Each sample pauses the process
for a moment, so CPU figures from a profiled run are a little higher than from a plain one:
compare figures from plain runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FLAG = "--profile"
FOLDER = Path(__file__).resolve().parent.parent / "test-artifacts" / "bench-profiles"
RATE = int(os.environ.get("BENCH_PROFILE_RATE", "100"))  # samples per second per process
# flamegraph (SVG), or raw (collapsed stacks, one line per stack: for grep, flamegraph.pl or
# speedscope) or speedscope (JSON)
FORMAT = os.environ.get("BENCH_PROFILE_FORMAT", "flamegraph")
SUFFIX = {"flamegraph": ".svg", "raw": ".txt", "speedscope": ".json"}
ENABLED = False  # set by `python -m bench --profile`


def parse(argv: list[str]) -> tuple[bool, set[str]]:
    """(--profile given, the benchmarks named) of `python -m bench [--profile] [name ...]`."""
    return FLAG in argv, {arg for arg in argv if arg != FLAG}


def py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")  # the wheel installs it next to python
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: make deps (it is in requirements-dev.txt)")
    return found


@contextmanager
def recording(
    pids: dict[str, int],
    folder: Path = FOLDER,
    *,
    enabled: bool | None = None,
    rate: int = RATE,
    output_format: str = FORMAT,
) -> Iterator[dict[str, Path]]:
    """While the block runs, record each named process (and its children) with py-spy; after
    it, the dict holds each flame graph written, by name. Does nothing unless enabled."""
    written: dict[str, Path] = {}
    if not (ENABLED if enabled is None else enabled):
        yield written
        return
    folder.mkdir(parents=True, exist_ok=True)
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for name, pid in pids.items():
        output = folder / f"{name}{SUFFIX[output_format]}"
        output.unlink(missing_ok=True)
        command = [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate)]
        command += ["--format", output_format, "--output", str(output)]
        log = (folder / f"{name}.py-spy.log").open("wb")
        running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), output)
        log.close()
    try:
        yield written
    finally:
        for proc, _ in running.values():  # py-spy writes its flame graph when interrupted
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for name, (proc, output) in running.items():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if output.exists():
                written[name] = output
            else:
                print(f"no profile of {name}: see {folder / f'{name}.py-spy.log'}", flush=True)
        for name, output in written.items():
            print(f"profile of {name}: {output}", flush=True)
