"""Where the classifier's service runs `classify()`: on the event loop, in one thread, or in the
loop's default executor (issue 18, session 10), measured in one process.

`python -m bench.classify_where [ROUNDS]` runs 480 documents, 16 in flight as the consumer holds
them, each a real `classify()` of a distinct 5 KB letter (the pipeline bench's) between two
simulated stretches of the handler's own loop work (JSON, about a millisecond) and a few system
calls and waits, as the handler's I/O makes; each way in turn per round. It prints each way's
process CPU and wall-clock milliseconds per document (medians over the rounds) and the longest
the loop was late waking from a 10 ms sleep. A way that saves CPU but takes longer per document
lowers the rate at which the classifier drains its queue at saturation.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from bench.bench_pipeline import letter
from mailintake_classifier.domain.classify import ItemText, Section, classify, prepare

DOCUMENTS, IN_FLIGHT = 480, 16
WAYS = {"default executor": 6, "one thread": 1, "on the loop": 0}  # threads (0: none)
PAYLOAD = {f"k{i}": "v" * 50 for i in range(200)}


def loop_work() -> None:
    for _ in range(6):
        json.loads(json.dumps(PAYLOAD))


def system_calls() -> None:
    read, write = os.pipe()
    os.write(write, b"x")
    os.read(read, 1)
    os.close(read)
    os.close(write)


async def run(threads: int) -> tuple[float, float, float]:
    """(CPU ms per document, wall ms per document, longest loop lateness ms)."""
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(threads or 1)
    items = iter(
        [
            ItemText("email", sections=[Section("subject", "Hi"), Section("body 1", uuid.uuid4().hex + letter(i))])
            for i in range(DOCUMENTS)
        ]
    )
    late: list[float] = []

    async def watch() -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.01)
            late.append(time.perf_counter() - asked - 0.01)

    async def documents() -> None:
        for item in items:
            system_calls()
            await asyncio.sleep(0.003)
            loop_work()
            if threads:
                await loop.run_in_executor(executor, classify, item)
            else:
                classify(item)
            loop_work()
            await asyncio.sleep(0.002)

    watching = asyncio.create_task(watch())
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(documents() for _ in range(IN_FLIGHT)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    watching.cancel()
    executor.shutdown()
    return cpu * 1000 / DOCUMENTS, wall * 1000 / DOCUMENTS, max(late, default=0.0) * 1000


def main(rounds: int = 4) -> None:
    prepare()
    results: dict[str, list[tuple[float, float, float]]] = {way: [] for way in WAYS}
    for _ in range(rounds):
        for way, threads in WAYS.items():
            results[way].append(asyncio.run(run(threads)))
    for way, rows in results.items():
        cpu, wall, late = (statistics.median(row[i] for row in rows) for i in range(3))
        print(f"{way}: CPU {cpu:.2f} ms/doc, wall {wall:.2f} ms/doc, loop late at most {late:.0f} ms ({rounds} rounds)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
