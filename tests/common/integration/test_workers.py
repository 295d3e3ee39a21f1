"""The supervised worker pool (issue 15): a task that dies, runs out of memory or runs past
its time limit takes only its own worker with it; the next task gets a fresh one."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import pickle
import signal
import threading
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvloop

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


# The hand-off on the event loop (issue 18, session 10): no thread, the same guarantees.


def warm(folder: str) -> None:
    Path(folder, str(os.getpid())).touch()


def warm_beyond_the_limit() -> None:
    allocate(1024 * MiB)


def same(value: bytes) -> bytes:
    return value


async def test_start_starts_every_worker_once_and_each_has_run_the_initializer(tmp_path: Path) -> None:
    pool = SupervisedPool("test", 2, 512 * MiB, initializer=functools.partial(warm, str(tmp_path)))
    try:
        await pool.start(timeout_s=60)
        started = {w.process.pid for w in pool._idle}
        assert len(started) == 2 and all(alive(p) for p in started)
        assert {int(p.name) for p in tmp_path.iterdir()} == started
        await pool.start(timeout_s=60)  # a second start adds none
        assert {w.process.pid for w in pool._idle} == started and len(pool._all) == 2
        assert await pool.run(pid, timeout_s=30) in started
    finally:
        pool.close()


async def test_start_replaces_lost_workers_before_any_task_needs_them(pool: SupervisedPool) -> None:
    await pool.start(timeout_s=60)
    with pytest.raises(WorkerCrashed):
        await pool.run(die_by_signal, timeout_s=30)
    assert len(pool._idle) == 1
    await pool.start(timeout_s=60)
    assert len(pool._idle) == 2 and all(w.process.is_alive() for w in pool._idle)
    idle = pool._idle[0].process.pid
    os.kill(idle, signal.SIGKILL)  # one dies while idle
    while alive(idle):
        await asyncio.sleep(0.05)
    await pool.start(timeout_s=60)
    assert len(pool._all) == 2 and idle not in {w.process.pid for w in pool._idle}
    assert all(w.process.is_alive() for w in pool._idle)


async def test_a_worker_that_cannot_start_fails_start_and_the_pool_keeps_working() -> None:
    pool = SupervisedPool("test", 1, 512 * MiB, initializer=warm_beyond_the_limit)
    try:
        with pytest.raises(WorkerCrashed, match="memory limit"):
            await pool.start(timeout_s=60)
        assert not pool._idle and not pool._all
    finally:
        pool.close()


async def test_a_worker_killed_from_outside_mid_task_is_lost_and_replaced(pool: SupervisedPool) -> None:
    first = await pool.run(pid, timeout_s=30)
    task = asyncio.create_task(pool.run(sleep_then_pid, 60.0, timeout_s=120))
    await asyncio.sleep(0.5)
    os.kill(first, signal.SIGKILL)
    with pytest.raises(WorkerCrashed, match="SIGKILL"):
        await task
    assert not pool._idle
    assert await pool.run(pid, timeout_s=30) != first


async def test_a_cancelled_task_kills_its_worker_and_the_next_task_gets_its_own_reply(pool: SupervisedPool) -> None:
    first = await pool.run(pid, timeout_s=30)
    task = asyncio.create_task(pool.run(sleep_then_pid, 1.0, timeout_s=30))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(first) and not pool._all
    await asyncio.sleep(1.5)  # the killed worker's reply would have come by now
    assert await pool.run(same, b"mine", timeout_s=30) == b"mine"


async def test_large_tasks_and_replies_cross_whole_side_by_side(pool: SupervisedPool) -> None:
    """Partial reads and writes of the non-blocking socket: 12 MiB each way, two at once."""
    payloads = [os.urandom(12 * MiB), os.urandom(5 * MiB + 3)]
    assert await asyncio.gather(*(pool.run(same, p, timeout_s=60) for p in payloads)) == payloads


async def test_an_argument_that_cannot_cross_fails_at_once_and_costs_no_worker(pool: SupervisedPool) -> None:
    first = await pool.run(pid, timeout_s=30)
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        await pool.run(same, lambda: None, timeout_s=30)
    assert await pool.run(pid, timeout_s=30) == first


async def test_a_task_is_handed_over_and_read_on_the_event_loop_without_a_thread(pool: SupervisedPool) -> None:
    threads = threading.active_count()
    await asyncio.gather(*(pool.run(sleep_then_pid, 0.2, timeout_s=30) for _ in range(4)))
    with pytest.raises(WorkerTimedOut):
        await pool.run(sleep_then_pid, 30.0, timeout_s=0.5)
    with pytest.raises(WorkerCrashed):
        await pool.run(die_by_signal, timeout_s=30)
    assert threading.active_count() == threads


def test_the_same_guarantees_on_uvloop_the_services_loop() -> None:
    async def scenario() -> None:
        pool = SupervisedPool("test", 2, 512 * MiB)
        try:
            await pool.start(timeout_s=60)
            payload = os.urandom(3 * MiB)
            assert await pool.run(same, payload, timeout_s=60) == payload
            with pytest.raises(WorkerTimedOut):
                await pool.run(sleep_then_pid, 30.0, timeout_s=0.5)
            with pytest.raises(WorkerCrashed, match="SIGSEGV"):
                await pool.run(die_by_signal, timeout_s=30)
            with pytest.raises(WorkerCrashed, match="memory limit"):
                await pool.run(allocate, 1024 * MiB, timeout_s=30)
            assert await pool.map(allocate, [1, 2, 3], timeout_s=30) == [1, 2, 3]
        finally:
            pool.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


async def test_a_worker_that_cannot_be_spawned_leaves_no_socket_open(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = SupervisedPool("test", 1, 0)

    def refuse_to_start(self: object) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(pool._context.Process, "start", refuse_to_start)
    gc.collect()  # earlier tests' garbage (their unclosed transports) is not this pool's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            with pytest.raises(OSError, match="no more processes"):
                await pool.run(pid, timeout_s=30)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)] and not pool._all
    pool.close()
