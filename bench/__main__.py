"""Run every benchmark module in this folder, or those named: `python -m bench quarantine`.

`python -m bench --profile pipeline` also records each service with py-spy during the
saturation run and saves a flame graph per service (bench/profiling.py)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

from bench import profiling


def main() -> None:
    profiling.ENABLED, wanted = profiling.parse(sys.argv[1:])
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"({name} took {time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
