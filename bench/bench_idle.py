"""The idle stack's cost: CPU per second of each process while no document moves (issue 18),
and the time one document takes from POST to routed when it is the only one.

Idle work (heartbeats, fetch polls, the relay's fallback polls, standby relays' lock attempts,
gauges, lag refreshes) is paid every second whatever the load, so the slower a run the more
of each document's CPU it is, and on two shared cores it competes with OCR. The stack is
started as `bench pipeline` starts it, a few documents are routed first (every path warm),
then each process's own CPU time (with its worker processes; PostgreSQL's backends, the
broker) is read over BENCH_IDLE_SECONDS. A lone document's latency is what a longer fetch
wait or poll interval would cost: BENCH_IDLE_SINGLES documents posted one at a time.

`python -m bench --profile idle` records each service with py-spy during the idle window
(`idle-<service>.svg`).
"""

from __future__ import annotations

import asyncio
import os
import time

from bench import profiling
from bench.bench_pipeline import ENV, client, post_mixed
from bench.support import cpu_of, pct, private_stack, service_pids, table, wait_routed

SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))
SETTLE_SECONDS = float(os.environ.get("BENCH_IDLE_SETTLE_SECONDS", "5"))
SINGLES = int(os.environ.get("BENCH_IDLE_SINGLES", "10"))


async def one_at_a_time(base_url: str, database_url: str, count: int) -> list[float]:
    """Seconds from POST to routed of `count` documents, each posted once the last was routed."""
    took: list[float] = []
    http = client(base_url)
    try:
        for i in range(count):
            started = time.perf_counter()
            document_id = await post_mixed(http, i)
            took.append(await wait_routed(database_url, [document_id], poll_s=0.005) - started)
            await asyncio.sleep(0.3)  # off any poll's beat
    finally:
        await http.aclose()
    return took


def main() -> None:
    with private_stack(("intake", "quarantine", "classifier", "routing"), ENV) as (infra, services):
        intake = services["intake"].base_url
        asyncio.run(one_at_a_time(intake, infra.database_url, 4))  # warm: every path once
        time.sleep(SETTLE_SECONDS)
        pids = {f"idle-{name}": pid for name, pid in service_pids(services).items()}
        with profiling.recording(pids):  # only with --profile
            before, started = cpu_of(infra, services), time.perf_counter()
            time.sleep(SECONDS)
            after, elapsed = cpu_of(infra, services), time.perf_counter() - started
        singles = asyncio.run(one_at_a_time(intake, infra.database_url, SINGLES))
    per_second = {name: (after[name] - before[name]) * 1000 / elapsed for name in after}
    table(
        f"idle stack over {elapsed:.0f} s (no documents moving), then {SINGLES} documents one at a time",
        [
            *[(f"idle CPU ms per second: {name}", f"{ms:.1f}", "-", "-") for name, ms in per_second.items()],
            ("idle CPU ms per second: all", f"{sum(per_second.values()):.1f}", "1000 (one core)", "-"),
            ("one document alone, POST to routed, p50 ms", f"{pct(singles, 0.5):.0f}", "-", "-"),
            ("one document alone, POST to routed, max ms", f"{max(singles) * 1000:.0f}", "-", "-"),
        ],
    )


if __name__ == "__main__":
    main()
