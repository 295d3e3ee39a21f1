"""Shared benchmark machinery: a private stack, timed concurrent requests, a printed table."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.stack import Infra, Service, make_service, start_local_infra


@contextmanager
def private_stack(
    services: tuple[str, ...], env: dict[str, str] | None = None, pg_options: tuple[str, ...] = ()
) -> Iterator[tuple[Infra, dict[str, Service]]]:
    """PostgreSQL, a broker and the named services, on free ports, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mailintake-bench-") as tmp:
        infra, stoppables = start_local_infra(Path(tmp), pg_options)
        running = {name: make_service(infra, name, Path(tmp), env) for name in services}
        try:
            for service in running.values():
                service.start(wait_ready=False)
            for service in running.values():
                service.wait_ready()
            yield infra, running
        finally:
            for service in running.values():
                service.stop()
            for thing in stoppables:
                thing.stop()  # type: ignore[attr-defined]


@dataclass
class Timing:
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0


async def run_concurrently(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> Timing:
    """Call `one(i)` for i in range(count) with `concurrency` workers; time each call."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Timing(count, time.perf_counter() - started, latencies)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process and everything it started (worker pools, PostgreSQL
    backends): each live process's own time plus the time of the children it has reaped."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    header = ("measure", "value", "baseline", "ratio")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print(title)
    for row in [header, *rows]:
        print("  " + "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)))
