"""Intake's CPU per accepted document, a git ref's code against this checkout's, side by side.

`python -m bench.intake_pair [REF] [ROUNDS]` (default main, 4) starts one PostgreSQL and broker
and two intake processes on them: REF's (its packages exported and put first on its
PYTHONPATH) and this checkout's, relay, reconciler and gauges off in both, so each process's
CPU is its request path alone (the relay runs in whichever service holds its advisory lock and
belongs to the outbox's figures). Each round posts the pipeline bench's mixed documents (5 KB
e-mails keyed by their Message-ID and web forms, all distinct) to both at once, every
concurrent worker alternating between them, so both see the same load at the same moment; on a
machine shared with other work the ratio holds still where two runs one after the other do not
(issue 18). The order is swapped each round. Prints each round's CPU ms per accepted document
and per `/healthz`, and the medians. With `--profile`, one more round records both processes
with py-spy (collapsed stacks, `intake-ref.txt` and `intake-this.txt` under
test-artifacts/bench-profiles/).

Knobs: `BENCH_PAIR_DOCUMENTS` (300 a side a round), `BENCH_INTAKE_CONCURRENCY` (16).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

from bench import profiling
from bench.bench_pipeline import client, post_mixed
from bench.support import exported, table, tree_cpu_seconds
from tests.support.stack import ADMIN_KEY, Service, make_service, start_local_infra

DOCUMENTS = int(os.environ.get("BENCH_PAIR_DOCUMENTS", "300"))
CONCURRENCY = int(os.environ.get("BENCH_INTAKE_CONCURRENCY", "16"))
QUIET = {
    "MAILINTAKE_RELAY_ENABLED": "false",
    "MAILINTAKE_RECONCILER_ENABLED": "false",
    "MAILINTAKE_METRICS_REFRESH_INTERVAL_S": "3600",
}


async def _round(copies: list[Service], count: int, probe: bool) -> list[float]:
    """CPU ms per request of each copy, `count` requests each, the copies alternated."""
    clients = [httpx.AsyncClient(base_url=c.base_url, headers={"X-API-Key": ADMIN_KEY}, timeout=60) for c in copies]
    posters = [client(c.base_url) for c in copies]  # the pipeline bench's load generator
    queue = list(range(count * len(copies)))

    async def worker() -> None:
        while queue:
            n = queue.pop(0)
            if probe:
                assert (await clients[n % len(clients)].get("/healthz")).status_code == 200
            else:
                await post_mixed(posters[n % len(posters)], n // len(posters))

    before = [tree_cpu_seconds(c.proc.pid) for c in copies]  # type: ignore[union-attr]
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    after = [tree_cpu_seconds(c.proc.pid) for c in copies]  # type: ignore[union-attr]
    for http in clients:
        await http.aclose()
    for poster in posters:
        await poster.aclose()
    return [(a - b) * 1000 / count for a, b in zip(after, before, strict=True)]


def main(ref: str = "main", rounds: int = 4, profile: bool = False) -> None:
    figures: dict[str, dict[str, list[float]]] = {
        ref: {"post": [], "probe": []},
        "this checkout": {"post": [], "probe": []},
    }
    with tempfile.TemporaryDirectory(prefix="mailintake-intake-pair-") as tmp:
        old_path = exported(ref, Path(tmp, "ref"))
        infra, stoppables = start_local_infra(Path(tmp))
        copies = {
            ref: make_service(infra, "intake", Path(tmp), {"PYTHONPATH": old_path, **QUIET}),
            "this checkout": make_service(infra, "intake", Path(tmp), QUIET),
        }
        try:
            for service in copies.values():
                service.start(wait_ready=False)
            for service in copies.values():
                service.wait_ready()
            asyncio.run(_round(list(copies.values()), 50, probe=False))  # warm: keys cached, statements prepared
            for number in range(rounds):
                names = list(copies) if number % 2 == 0 else list(reversed(copies))
                order = [copies[n] for n in names]
                posts = asyncio.run(_round(order, DOCUMENTS, probe=False))
                probes = asyncio.run(_round(order, DOCUMENTS, probe=True))
                for name, post, probe in zip(names, posts, probes, strict=True):
                    figures[name]["post"].append(post)
                    figures[name]["probe"].append(probe)
                line = ", ".join(
                    f"{n} {p:.2f} ms ({h:.2f} /healthz)" for n, p, h in zip(names, posts, probes, strict=True)
                )
                print(f"round {number + 1}: {line}; load {os.getloadavg()[0]:.1f}", flush=True)
            pids = {"intake-ref": copies[ref].proc, "intake-this": copies["this checkout"].proc}
            with profiling.recording({n: p.pid for n, p in pids.items() if p}, enabled=profile, output_format="raw"):
                if profile:
                    asyncio.run(_round(list(copies.values()), DOCUMENTS * 2, probe=False))
        finally:
            for service in copies.values():
                service.stop()
            for thing in stoppables:
                thing.stop()  # type: ignore[attr-defined]
    new, old = figures["this checkout"], figures[ref]
    rows = [
        (
            f"{name}: CPU ms per accepted document, median of {rounds}",
            f"{statistics.median(f['post']):.2f}",
            f"{statistics.median(f['probe']):.2f} /healthz",
            "-",
        )
        for name, f in figures.items()
    ]
    ratio = statistics.median(new["post"]) / statistics.median(old["post"])
    rows.append((f"this checkout / {ref}", f"{ratio:.2f}", "-", "-"))
    table(f"intake, two processes side by side, {DOCUMENTS} mixed documents each a round", rows)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != profiling.FLAG]
    main(
        arguments[0] if arguments else "main",
        int(arguments[1]) if len(arguments) > 1 else 4,
        profile=profiling.FLAG in sys.argv,
    )
