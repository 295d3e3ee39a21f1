"""The relay's latency per hop with its busy rounds paced or back to back (issue 18, session 12).

`python -m bench.relay_latency [rate] [rounds] [interval_ms]` (200 rows/s, 3, 25): one private
PostgreSQL and broker; each round this checkout's relay runs in this process with
`relay_busy_round_interval_ms` at 0 (back to back) and at `interval_ms`, in turn, while a writer
commits six seconds' worth of outbox rows at `rate` (one a transaction, with its NOTIFY, each
value carrying its commit time) and a consumer (5 ms fetch wait) times each row from its commit
to its arrival. Prints each round's p50 and p99 and their medians.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.relay_ab import write_rows
from tests.support.stack import start_local_infra

TOPIC = "mail.intake.received"


async def _write(url: str, run: str, rows: int, rate: float) -> None:
    """Rows at `rate` (relay_ab's writer), each value carrying this run and its commit time."""
    await write_rows(
        url,
        rows,
        rate,
        lambda document_id: {"document_id": document_id, "run": run, "t": time.time(), "payload": "x" * 500},
    )


async def _read(consumer: AIOKafkaConsumer, run: str, rows: int) -> list[float]:
    """Milliseconds from each of the run's rows' commit to its arrival here."""
    waited: list[float] = []
    while len(waited) < rows:
        for records in (await consumer.getmany(timeout_ms=100)).values():
            now = time.time()
            for record in records:
                value = json.loads(record.value or b"{}")
                if value.get("run") == run:
                    waited.append((now - value["t"]) * 1000)
    return waited


async def one_round(url: str, bootstrap: str, interval_ms: float, rate: float) -> tuple[float, float]:
    """(p50, p99) ms from commit to arrival, the relay's busy rounds `interval_ms` apart."""
    from mailintake_common.db import make_engine
    from mailintake_common.outbox import Relay
    from mailintake_common.settings import CommonSettings

    settings = CommonSettings(database_url=url, kafka_bootstrap=bootstrap, relay_busy_round_interval_ms=interval_ms)
    engine = make_engine(settings)
    relay = Relay(engine, settings)
    task = asyncio.create_task(relay.run())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    await consumer.start()
    try:
        while not relay.is_leader:
            await asyncio.sleep(0.05)
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC) or ())]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        run, rows = uuid.uuid4().hex, int(rate * 6)
        reader = asyncio.create_task(_read(consumer, run, rows))
        await _write(url, run, rows, rate)
        waited = sorted(await asyncio.wait_for(reader, 60))
    finally:
        await consumer.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()
    return statistics.median(waited), waited[int(len(waited) * 0.99)]


async def _rounds(url: str, bootstrap: str, rate: float, rounds: int, interval_ms: float) -> None:
    from mailintake_common.kafka import ensure_topics
    from mailintake_common.settings import CommonSettings

    await ensure_topics(CommonSettings(database_url=url, kafka_bootstrap=bootstrap), [TOPIC])
    results: dict[float, list[tuple[float, float]]] = {0.0: [], interval_ms: []}
    for r in range(rounds):
        for interval in list(results) if r % 2 == 0 else reversed(list(results)):
            p50, p99 = await one_round(url, bootstrap, interval, rate)
            results[interval].append((p50, p99))
            print(f"round {r + 1} interval {interval:g} ms: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    for interval, got in results.items():
        p50, p99 = statistics.median(g[0] for g in got), statistics.median(g[1] for g in got)
        print(f"interval {interval:g} ms: median p50 {p50:.1f} ms, p99 {p99:.1f} ms per hop at {rate:g} rows/s")


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 200.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    interval_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 25.0
    with tempfile.TemporaryDirectory(prefix="mailintake-relay-latency-") as tmp:
        infra, stoppables = start_local_infra(Path(tmp))
        try:
            import uvloop

            uvloop.install()
            asyncio.run(_rounds(infra.database_url, infra.bootstrap, rate, rounds, interval_ms))
        finally:
            for thing in stoppables:
                thing.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
