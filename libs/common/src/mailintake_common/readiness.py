"""What `/readyz` says, decided from what a service needs to do its work (issue 16).

A service is ready when it can do its work now, not merely when its dependencies answer:

- PostgreSQL is always needed (it is the system of record; intake answers 503 without it).
- The broker is needed by a service that consumes. A service that only produces (intake)
  stays ready while the broker is down: the outbox holds its events and the relay publishes
  them when the broker is back. `MAILINTAKE_READY_REQUIRES_BROKER=true` makes every service
  require the broker, as SPEC 3's `/readyz` line reads.
- With `MAILINTAKE_BLOB_STORE=s3` the bucket is always needed (no content can be stored or read
  without it); with `postgres` there is nothing more to reach.
- A consumer's loop must be running: its task alive, its consumer started and a member of the
  group with partitions to work. A loop that ended, crashed, is restarting or has not yet
  joined is not ready.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

LoopState = Literal["none", "stopped", "starting", "running"]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...]

    def body(
        self, database: bool, broker: bool, consumer: LoopState, object_store: bool | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ready" if self.ready else "not_ready",
            "database": database,
            "broker": broker,
        }
        if object_store is not None:
            body["object_store"] = object_store
        if consumer != "none":
            body["consumer"] = consumer
        if self.reasons:
            body["reasons"] = list(self.reasons)
        return body


def decide(
    *, database: bool, broker: bool, consumer: LoopState, broker_required: bool, object_store: bool | None = None
) -> Readiness:
    """Ready or not, and why not (pure). `consumer` is "none" for a service that consumes nothing;
    `object_store` is None when blobs are in PostgreSQL."""
    reasons: list[str] = []
    if not database:
        reasons.append("database unreachable")
    if object_store is False:
        reasons.append("object store unreachable")
    needs_broker = broker_required or consumer != "none"
    if not broker and needs_broker:
        reasons.append("broker unreachable")
    if consumer in ("stopped", "starting"):
        reasons.append(f"consumer loop {consumer}")
    return Readiness(not reasons, tuple(reasons))


def loop_state(task: asyncio.Task[Any] | None, *, started: bool, assigned: bool) -> LoopState:
    """A consumer loop's state from its task and its consumer (see `ConsumerRunner.loop_state`)."""
    if task is None or task.done():
        return "stopped"
    if started and assigned:
        return "running"
    return "starting"
