"""Intake: accepted documents per second and latency at a fixed concurrency.

Baselines, measured in the same run on the same machine: the same HTTP server answering
`/healthz` (the floor any endpoint pays for HTTP), and raw aiokafka producing the same number
of messages (what publishing alone costs). Intake's figure includes storing blobs, document,
timeline and outbox row in one PostgreSQL transaction, and the relay publishing them.

CPU milliseconds per request are the intake process's own CPU time over each phase (the
load generator shares the cores, so wall-clock rates move with it; CPU time per request does
not): the web stack alone on `/healthz`, and everything intake does for one accepted e-mail.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx
from aiokafka import AIOKafkaProducer

from bench.support import private_stack, run_concurrently, table, tree_cpu_seconds
from bench.web_frame import frame_cost
from tests.factories.documents import email_bytes
from tests.support.kafka import has_documents, read_topic
from tests.support.stack import ADMIN_KEY

COUNT = int(os.environ.get("BENCH_INTAKE_COUNT", "600"))
CONCURRENCY = int(os.environ.get("BENCH_INTAKE_CONCURRENCY", "16"))


async def measure(base_url: str, bootstrap: str, pid: int) -> None:
    emails = [email_bytes(body="Please update my details. " * 200) for _ in range(COUNT)]
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": ADMIN_KEY}, limits=limits) as http:
        await http.get("/healthz")
        cpu_before = tree_cpu_seconds(pid)
        health = await run_concurrently(COUNT, CONCURRENCY, lambda i: http.get("/healthz"))
        health_cpu_ms = (tree_cpu_seconds(pid) - cpu_before) * 1000 / COUNT
        ids: set[str] = set()

        async def post(i: int) -> None:
            response = await http.post(
                "/v1/emails?mailbox=edc", content=emails[i], headers={"Content-Type": "message/rfc822"}
            )
            assert response.status_code == 202, response.text
            ids.add(response.json()["document_id"])

        cpu_before = tree_cpu_seconds(pid)
        started = time.perf_counter()
        accepted = await run_concurrently(COUNT, CONCURRENCY, post)
        await read_topic(bootstrap, "mail.intake.received", has_documents(ids), timeout_s=300)
        published_s = time.perf_counter() - started
        post_cpu_ms = (tree_cpu_seconds(pid) - cpu_before) * 1000 / COUNT

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    raw_started = time.perf_counter()
    await asyncio.gather(*[await producer.send("bench.raw", e[:2048]) for e in emails])
    raw_s = time.perf_counter() - raw_started
    await producer.stop()

    table(
        f"intake, {COUNT} emails of {len(emails[0]) // 1024} KiB, concurrency {CONCURRENCY}",
        [
            (
                "accepted docs/s",
                f"{accepted.rate:.0f}",
                f"{health.rate:.0f} /healthz req/s",
                f"{accepted.rate / health.rate:.2f}",
            ),
            ("p50 latency ms", f"{accepted.p50:.1f}", f"{health.p50:.1f}", f"{accepted.p50 / health.p50:.1f}x"),
            (
                "p99 latency ms",
                f"{accepted.pct(0.99):.1f}",
                f"{health.pct(0.99):.1f}",
                f"{accepted.pct(0.99) / health.pct(0.99):.1f}x",
            ),
            (
                "intake CPU ms/request",
                f"{post_cpu_ms:.2f} (POST, relay)",
                f"{health_cpu_ms:.2f} /healthz",
                f"{post_cpu_ms / health_cpu_ms:.1f}x",
            ),
            (
                "POST->on topic docs/s",
                f"{COUNT / published_s:.0f}",
                f"{COUNT / raw_s:.0f} raw aiokafka msg/s",
                f"{(COUNT / published_s) / (COUNT / raw_s):.2f}",
            ),
        ],
    )


def main() -> None:
    with private_stack(("intake",)) as (infra, services):
        intake = services["intake"]
        assert intake.proc is not None
        asyncio.run(measure(intake.base_url, infra.bootstrap, intake.proc.pid))
    # The frame alone, in this process: what the middleware, routing and dependencies cost (issue 18).
    frame = frame_cost()
    bare = frame.pop("bare /healthz")
    table(
        "intake's web frame in-process (no server, socket or database), CPU us per request",
        [(name, f"{us:.0f}", f"{bare:.0f} bare Starlette app", f"{us / bare:.1f}x") for name, us in frame.items()],
    )


if __name__ == "__main__":
    main()
