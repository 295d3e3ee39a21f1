"""The classifier's CPU per document, a git ref's code against this checkout's, side by side.

`python -m bench.classifier_pair [REF]` (default main) starts one stack with two classifier
copies in the one consumer group: REF's (its packages exported and put first on the copy's
PYTHONPATH) and this checkout's. Each takes two of the four partitions, so both classify the
same kind of documents under the same load at the same moment: on a machine shared with other
work, the ratio of their CPU per document holds still where two runs one after the other do
not (issue 18). The pipeline bench's documents are posted in a closed loop for
BENCH_E2E_SECONDS (20 here); each copy's CPU (with its worker processes) over the run is
divided by the documents it classified (its `mailintake_handler_seconds` count). Each copy's
`/healthz` is asked every 50 ms meanwhile: its answer times show how long the copy's event loop
stops (the longest), beside the median.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.bench_pipeline import client, post_mixed
from bench.support import exported, table, tree_cpu_seconds, wait_routed
from tests.support.stack import Service, make_service, start_local_infra

SECONDS = float(os.environ.get("BENCH_E2E_SECONDS", "20"))
CONCURRENCY = int(os.environ.get("BENCH_E2E_CONCURRENCY", "8"))
PROBE_INTERVAL_S = 0.05  # each copy's /healthz is asked this often during the run


def handled(service: Service) -> tuple[float, float]:
    """(events handled, seconds spent in the handler in all): its `mailintake_handler_seconds`."""
    text = httpx.get(f"{service.base_url}/metrics", timeout=10).text

    def total(name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))

    return total("mailintake_handler_seconds_count"), total("mailintake_handler_seconds_sum")


async def probe(base_url: str, until: float, answers: list[float]) -> None:
    """`/healthz` every PROBE_INTERVAL_S until `until`, its answer times in ms into `answers`:
    a copy whose event loop stops for long answers late (the loop serves it)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        while time.perf_counter() < until:
            asked = time.perf_counter()
            await http.get("/healthz")
            answers.append((time.perf_counter() - asked) * 1000)
            await asyncio.sleep(PROBE_INTERVAL_S)


async def closed_loop(
    base_url: str, database_url: str, seconds: float, probed: dict[str, str] | None = None
) -> tuple[int, dict[str, list[float]]]:
    """Post for `seconds` at CONCURRENCY, wait until all are routed; meanwhile each copy in
    `probed` (name -> base URL) is asked for its health. (documents, answer times by copy)"""
    ids: list[str] = []
    answers: dict[str, list[float]] = {name: [] for name in probed or {}}
    http = client(base_url)
    try:
        started = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() - started < seconds:
                ids.append(await post_mixed(http, len(ids)))

        probes = [probe(url, started + seconds, answers[name]) for name, url in (probed or {}).items()]
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)), *probes)
        await wait_routed(database_url, ids)
    finally:
        await http.aclose()
    return len(ids), answers


def main(ref: str = "main") -> None:
    with tempfile.TemporaryDirectory(prefix="mailintake-pair-") as tmp:
        old_path = exported(ref, Path(tmp, "ref"))
        infra, stoppables = start_local_infra(Path(tmp))
        services = {name: make_service(infra, name, Path(tmp)) for name in ("intake", "quarantine", "routing")}
        copies = {
            ref: make_service(infra, "classifier", Path(tmp), {"PYTHONPATH": old_path}),
            "this checkout": make_service(infra, "classifier", Path(tmp)),
        }
        running = [*services.values(), *copies.values()]
        try:
            for service in running:
                service.start(wait_ready=False)
            for service in running:
                service.wait_ready()
            asyncio.run(closed_loop(services["intake"].base_url, infra.database_url, 3))  # both joined, warm
            before = {name: (tree_cpu_seconds(c.proc.pid), handled(c)) for name, c in copies.items()}  # type: ignore[union-attr]
            urls = {name: c.base_url for name, c in copies.items()}
            documents, probed = asyncio.run(closed_loop(services["intake"].base_url, infra.database_url, SECONDS, urls))
            after = {name: (tree_cpu_seconds(c.proc.pid), handled(c)) for name, c in copies.items()}  # type: ignore[union-attr]
        finally:
            for service in running:
                service.stop()
            for thing in stoppables:
                thing.stop()  # type: ignore[attr-defined]
    ms, wall = {}, {}
    for name in copies:
        cpu = after[name][0] - before[name][0]
        count, seconds = (a - b for a, b in zip(after[name][1], before[name][1], strict=True))
        ms[name] = (cpu * 1000 / count if count else float("nan"), int(count))
        wall[name] = seconds * 1000 / count if count else float("nan")
    print(f"CPU ms/doc {ms}", flush=True)
    print(f"handler ms/doc (wall clock) {wall}", flush=True)
    health = {name: (statistics.median(times), max(times), len(times)) for name, times in probed.items() if times}
    print(f"/healthz ms (median, longest, asked) {health}", flush=True)
    new, old = ms["this checkout"][0], ms[ref][0]
    answers = health.items()
    table(
        f"classifier CPU per document, two copies in one group, {documents} documents over {SECONDS:g} s",
        [(f"{name} ({count} documents)", f"{value:.2f}", "-", "-") for name, (value, count) in ms.items()]
        + [("this checkout / " + ref, f"{new / old:.2f}", "-", "-")]
        + [(f"{name}: handler ms per document (wall clock)", f"{wall[name]:.1f}", "-", "-") for name in copies]
        + [(f"{name}: /healthz ms, median / longest", f"{m:.1f} / {x:.0f}", "-", "-") for name, (m, x, _) in answers],
    )


if __name__ == "__main__":
    main(*sys.argv[1:2])
