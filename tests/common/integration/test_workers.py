"""The supervised worker pool (issue 15): a task that dies, runs out of memory or runs past
its time limit takes only its own worker with it; the next task gets a fresh one."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from mailintake_common.workers import SupervisedPool, WorkerCrashed, WorkerTimedOut

MiB = 1024 * 1024


# Tasks run in the workers: module-level so they pickle by reference.
def pid() -> int:
    return os.getpid()


def sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def die_by_signal() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def allocate(size: int) -> int:
    block = bytearray(size)
    block[-1] = 1
    return len(block)


def refuse(what: str) -> None:
    raise ValueError(what)


def alive(process_id: int) -> bool:
    try:
        os.kill(process_id, 0)
    except ProcessLookupError:
        return False
    # a killed child not yet reaped is a zombie: gone for our purposes
    with open(f"/proc/{process_id}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


@pytest.fixture
async def pool() -> AsyncIterator[SupervisedPool]:
    pool = SupervisedPool("test", 2, 512 * MiB)
    yield pool
    pool.close()


async def test_a_worker_past_its_time_limit_is_killed_and_replaced(pool: SupervisedPool) -> None:
    first = await pool.run(pid, timeout_s=30)
    started = time.monotonic()
    with pytest.raises(WorkerTimedOut):
        await pool.run(sleep_then_pid, 60.0, timeout_s=1.0)
    assert time.monotonic() - started < 10
    # the slow task got the idle worker; it is gone, not left running in the background
    assert not alive(first)
    replacement = await pool.run(pid, timeout_s=30)
    assert replacement != first and alive(replacement)


async def test_a_worker_that_dies_is_replaced_and_later_tasks_succeed(pool: SupervisedPool) -> None:
    with pytest.raises(WorkerCrashed, match="SIGSEGV"):
        await pool.run(die_by_signal, timeout_s=30)
    results = await asyncio.gather(*(pool.run(allocate, 1024, timeout_s=30) for _ in range(4)))
    assert results == [1024] * 4


async def test_a_task_over_the_memory_limit_loses_its_worker_not_the_service(pool: SupervisedPool) -> None:
    with pytest.raises(WorkerCrashed, match="memory limit"):
        await pool.run(allocate, 1024 * MiB, timeout_s=30)
    assert await pool.run(allocate, 16 * MiB, timeout_s=30) == 16 * MiB


async def test_an_ordinary_exception_comes_back_as_itself_and_keeps_the_worker(pool: SupervisedPool) -> None:
    first = await pool.run(pid, timeout_s=30)
    with pytest.raises(ValueError, match="not a letter"):
        await pool.run(refuse, "not a letter", timeout_s=30)
    assert await pool.run(pid, timeout_s=30) == first


async def test_close_stops_every_worker() -> None:
    pool = SupervisedPool("test", 2, 0)
    ids = await asyncio.gather(pool.run(sleep_then_pid, 0.3, timeout_s=30), pool.run(pid, timeout_s=30))
    pool.close()
    time.sleep(0.2)
    assert not any(alive(i) for i in ids)


async def test_map_keeps_order_and_one_failure_stops_the_rest(pool: SupervisedPool) -> None:
    assert await pool.map(allocate, [10, 20, 30], timeout_s=30) == [10, 20, 30]
    started = time.monotonic()
    with pytest.raises(WorkerCrashed):
        await pool.map(sleep_or_die, [30.0, -1.0, 30.0], timeout_s=60)
    assert time.monotonic() - started < 20  # the sleepers were stopped, not waited for
    assert await pool.map(allocate, [1, 2], timeout_s=30) == [1, 2]


def sleep_or_die(seconds: float) -> None:
    if seconds < 0:
        time.sleep(0.5)
        die_by_signal()
    time.sleep(seconds)
