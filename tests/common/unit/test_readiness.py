"""Readiness decided from what a service needs (issue 16; readiness.py)."""

from __future__ import annotations

import asyncio

from mailintake_common.readiness import decide, loop_state


def test_a_producer_stays_ready_without_the_broker() -> None:
    answer = decide(database=True, broker=False, consumer="none", broker_required=False)
    assert answer.ready and answer.reasons == ()


def test_a_producer_may_be_told_to_require_the_broker() -> None:
    answer = decide(database=True, broker=False, consumer="none", broker_required=True)
    assert not answer.ready and answer.reasons == ("broker unreachable",)


def test_no_service_is_ready_without_the_database() -> None:
    assert not decide(database=False, broker=True, consumer="none", broker_required=False).ready


def test_a_consumer_needs_the_broker_and_a_running_loop() -> None:
    assert decide(database=True, broker=True, consumer="running", broker_required=False).ready
    assert not decide(database=True, broker=False, consumer="running", broker_required=False).ready
    for state in ("stopped", "starting"):
        answer = decide(database=True, broker=True, consumer=state, broker_required=False)
        assert not answer.ready and answer.reasons == (f"consumer loop {state}",)


def test_with_blobs_in_s3_every_service_needs_the_bucket() -> None:
    down = decide(database=True, broker=True, consumer="none", broker_required=False, object_store=False)
    assert not down.ready and down.reasons == ("object store unreachable",)
    assert down.body(True, True, "none", False)["object_store"] is False
    assert decide(database=True, broker=True, consumer="running", broker_required=False, object_store=True).ready
    on_postgres = decide(database=True, broker=True, consumer="none", broker_required=False)
    assert on_postgres.ready and "object_store" not in on_postgres.body(True, True, "none")


async def test_a_loop_is_running_only_while_its_task_lives_and_it_has_partitions() -> None:
    never = asyncio.Event()
    alive = asyncio.create_task(never.wait())
    assert loop_state(alive, started=True, assigned=True) == "running"
    assert loop_state(alive, started=True, assigned=False) == "starting"  # not yet joined
    assert loop_state(alive, started=False, assigned=False) == "starting"  # restarting after a crash
    alive.cancel()
    ended = asyncio.create_task(asyncio.sleep(0))
    await ended
    assert loop_state(ended, started=True, assigned=True) == "stopped"
    assert loop_state(None, started=False, assigned=False) == "stopped"
