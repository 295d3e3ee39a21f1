"""Shared benchmark machinery: a private stack, timed concurrent requests, a printed table."""

from __future__ import annotations

import asyncio
import io
import os
import resource
import statistics
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.tables import documents, timeline
from tests.support.stack import Infra, Service, make_service, start_local_infra

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "libs/common",
    "libs/cli",
    "services/intake",
    "services/quarantine",
    "services/classifier",
    "services/routing",
)


def exported(ref: str, folder: Path) -> str:
    """REF's packages under `folder` (an A/B's old side); the PYTHONPATH that imports them first."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, *(f"{p}/src" for p in PACKAGES)],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return os.pathsep.join(str(folder / p / "src") for p in PACKAGES)


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


async def run_concurrently(count: int, concurrency: int, one: Callable[[int], Awaitable[object]]) -> Timing:
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


async def raw_kafka_pipeline(bootstrap: str, count: int) -> float:
    """Seconds for `count` 1 KiB messages to pass three consume-and-produce hops."""
    run = uuid.uuid4().hex[:8]
    topics = [f"bench.{run}.{i}" for i in range(4)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()

    async def hop(source: str, target: str | None, ready: asyncio.Event, done: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            source,
            bootstrap_servers=bootstrap,
            group_id=f"g-{source}",
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        await consumer.start()
        seen = 0
        try:
            while seen < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        if record.value == b"warm":  # the group has joined and reads from the start
                            ready.set()
                            continue
                        if target:
                            await producer.send(target, record.value, key=record.key)
                        seen += 1
                    await consumer.commit()
        finally:
            await consumer.stop()
            done.set()

    for topic in topics:  # create the topics; each hop's first record tells it has joined its group
        await producer.send_and_wait(topic, b"warm")
    ready = [asyncio.Event() for _ in range(4)]
    finished = [asyncio.Event() for _ in range(4)]
    hops = [
        asyncio.create_task(hop(topics[i], topics[i + 1] if i < 3 else None, ready[i], finished[i])) for i in range(4)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
    started = time.perf_counter()
    await asyncio.gather(*[await producer.send(topics[0], b"x" * 1024, key=str(i).encode()) for i in range(count)])
    await asyncio.wait_for(finished[3].wait(), 300)
    elapsed = time.perf_counter() - started
    await asyncio.gather(*hops, return_exceptions=True)
    await producer.stop()
    return elapsed


def service_pids(services: dict[str, Service]) -> dict[str, int]:
    return {name: service.proc.pid for name, service in services.items() if service.proc is not None}


def cpu_of(infra: Infra, services: dict[str, Service]) -> dict[str, float]:
    """CPU seconds so far of each service, PostgreSQL and the broker (with their child processes)."""
    pids = service_pids(services)
    for name, thing in (("postgresql", infra.postgres), ("broker", infra.broker)):
        if thing is not None and thing.proc is not None:
            pids[name] = thing.proc.pid
    return {name: tree_cpu_seconds(pid) for name, pid in pids.items()}


def postgres_ended_cpu(infra: Infra) -> float:
    """CPU seconds of the PostgreSQL processes that have ended so far, the postmaster's reaped
    children: backends of closed connections (a pool that opens and closes connections pays a
    backend's start each time) and autovacuum workers (issue 18, session 9)."""
    import psutil

    if infra.postgres is None or infra.postgres.proc is None:
        return 0.0
    try:
        root = psutil.Process(infra.postgres.proc.pid)
        postmaster = root if root.name() in ("postgres", "postmaster") else root.children()[0]  # else runuser's
        times = postmaster.cpu_times()
    except (psutil.NoSuchProcess, IndexError):
        return 0.0
    return float(times.children_user + times.children_system)


async def wal_bytes(database_url: str) -> int:
    """WAL PostgreSQL has written since it started (pg_stat_wal)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT wal_bytes FROM pg_stat_wal"))).scalar_one())
    finally:
        await engine.dispose()


async def next_transaction_id(database_url: str) -> int:
    """The id PostgreSQL gives the next transaction that writes: the difference over a run is how
    many transactions wrote (each takes one; a read-only one takes none). Read without taking one."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            sql = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


def raw_tesseract(images: list[bytes], workers: int) -> tuple[float, float]:
    """(pages/s, CPU ms per page) of the `tesseract` command on the pages, `workers` at a time;
    (0, 0) for no pages (`BENCH_E2E_SCANS=0` skips the scans)."""
    if not images:
        return 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, image in enumerate(images):
            files.append(Path(tmp, f"p{i}.png"))
            files[-1].write_bytes(image)
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        cpu = children_cpu_seconds()
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda p: subprocess.run(["tesseract", str(p), "-"], capture_output=True, env=env), files))
        elapsed = time.perf_counter() - started
        return len(images) / elapsed, (children_cpu_seconds() - cpu) * 1000 / len(images)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def stage_times(database_url: str, ids: list[str]) -> dict[str, list[float]]:
    """Per document: seconds from intake to each later stage's timeline entry."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(timeline.c.document_id, timeline.c.stage, timeline.c.at).where(
                        timeline.c.document_id.in_(ids)
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    at: dict[str, dict[str, float]] = {}
    for document_id, stage, when in rows:
        at.setdefault(document_id, {}).setdefault(stage, when.timestamp())
    out: dict[str, list[float]] = {"quarantine": [], "classifier": [], "routing": [], "total": []}
    for stages in at.values():
        if {"intake", "quarantine", "classifier", "routing"} <= set(stages):
            out["quarantine"].append(stages["quarantine"] - stages["intake"])
            out["classifier"].append(stages["classifier"] - stages["quarantine"])
            out["routing"].append(stages["routing"] - stages["classifier"])
            out["total"].append(stages["routing"] - stages["intake"])
    return out


async def wait_routed(database_url: str, ids: list[str], timeout_s: float = 600, poll_s: float = 0.05) -> float:
    """When the last of `ids` was routed (or failed), within `poll_s`: asked of PostgreSQL, one
    small query a round, not of intake's API, whose status requests (one per document a round)
    would compete with the pipeline for the cores while it works."""
    engine = create_async_engine(database_url)
    started = time.perf_counter()
    query = select(func.count()).where(documents.c.document_id.in_(ids), documents.c.status.in_(("routed", "failed")))
    try:
        async with engine.connect() as conn:
            while time.perf_counter() - started < timeout_s:
                if (await conn.execute(query)).scalar_one() >= len(ids):
                    break
                await conn.rollback()  # a fresh snapshot for the next round
                await asyncio.sleep(poll_s)
    finally:
        await engine.dispose()
    return time.perf_counter()


def handler_ms(service_url: str) -> float:
    """Mean time a service's handler spent per event (its own work, no queueing), from /metrics."""
    text = httpx.get(f"{service_url}/metrics", timeout=10).text
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("mailintake_handler_seconds_sum{"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("mailintake_handler_seconds_count{"):
            count += float(line.rsplit(" ", 1)[1])
    return total / count * 1000 if count else 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    header = ("measure", "value", "baseline", "ratio")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print(title)
    for row in [header, *rows]:
        print("  " + "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)))
