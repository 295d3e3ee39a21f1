"""Work on untrusted files in supervised worker processes (issue 15: one file must not stop a service).

Screening, PDF and HTML parsing and OCR of hostile files run in child processes, each with an
address-space limit (RLIMIT_AS, inherited by the programs it starts: Tesseract, pdftoppm,
antiword) and a time limit per task. A task that exceeds a limit or kills its worker raises
`WorkerLost` (`WorkerCrashed` or `WorkerTimedOut`) in the caller; that worker is killed and the
next task starts a fresh one, so one file can never leave the pool broken (a
`ProcessPoolExecutor` stays broken for good after one worker dies). The consumer runner counts
`WorkerLost` per event in PostgreSQL and dead-letters a message that keeps doing it
(`consumer.py`, `attempts.py`).

Each worker runs one task at a time in its own `spawn`ed process (no copy of the service's
threads, sockets or event loop). Tasks are module-level functions and picklable arguments.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import resource
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from mailintake_common import observability as obs

log = logging.getLogger(__name__)

T = TypeVar("T")

_MEMORY_EXIT = 70  # a worker's exit status after it ran out of memory


class WorkerLost(Exception):
    """The task took its worker down: it died, ran out of memory or ran out of time.

    The message is a fixed description (never content), safe for the DLQ and the timeline.
    """


class WorkerCrashed(WorkerLost):
    """The worker died (a signal, an exit) or hit its memory limit during the task."""


class WorkerTimedOut(WorkerLost):
    """The task ran past its time limit; the worker was killed."""


class WorkerTaskError(Exception):
    """A task raised an exception that cannot be carried back as itself (only its class name is kept)."""


def _worker_main(conn: Connection, memory_bytes: int, initializer: Callable[[], None] | None) -> None:
    """A worker's life: set the limits, then run tasks one at a time until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in `make run` stops the service, which stops us
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if initializer is not None:
        initializer()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        except MemoryError:
            os._exit(_MEMORY_EXIT)
        if message is None:
            return
        fn, args = message
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except MemoryError:
            os._exit(_MEMORY_EXIT)  # the process's state is unknown now: the pool starts a fresh one
        except BaseException as exc:
            reply = ("error", _portable(exc))
        try:
            conn.send(reply)
        except MemoryError:
            os._exit(_MEMORY_EXIT)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            conn.send(("error", WorkerTaskError(type(exc).__name__)))


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else its class name only."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return WorkerTaskError(type(exc).__name__)
    return exc


class _Worker:
    def __init__(self, context: Any, memory_bytes: int, initializer: Callable[[], None] | None) -> None:
        parent, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, memory_bytes, initializer), daemon=True, name="mailintake-worker"
        )
        self.process.start()
        child.close()  # only the worker holds its end: its death reads as end-of-file here
        self.conn: Connection = parent

    def roundtrip(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
        """Blocking: send one task, wait for its reply (end-of-file when the worker dies)."""
        self.conn.send((fn, args))
        return self.conn.recv()  # type: ignore[no-any-return]

    def death(self) -> str:
        """Why the worker is gone, in words safe for a log and a dead letter."""
        self.process.join(5)
        code = self.process.exitcode
        if code == _MEMORY_EXIT:
            return "the worker ran out of memory (memory limit)"
        if code is not None and code < 0:
            with suppress(ValueError):
                return f"the worker was killed by {signal.Signals(-code).name}"
        return f"the worker exited (status {code})"

    def kill(self) -> None:
        with suppress(Exception):
            self.process.kill()
        self.process.join(5)
        # The pipe is left to the garbage collector: a reader that timed out may still hold it.


class SupervisedPool:
    """`await pool.run(fn, *args, timeout_s=...)` runs `fn(*args)` in a worker process.

    At most `size` tasks run at once; each has its own time limit, every worker the same
    memory limit (bytes of address space, 0 for none). Workers start on first use and a lost
    one is replaced by the next task that needs one.
    """

    def __init__(
        self,
        name: str,
        size: int,
        memory_bytes: int,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.size = max(1, size)
        self.memory_bytes = memory_bytes
        self._initializer = initializer
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        # Blocking pipe reads live here, not in the loop's default executor; a timed-out read
        # ends as soon as its worker is killed, so a margin of two is plenty.
        self._threads = ThreadPoolExecutor(self.size + 2, thread_name_prefix=f"{name}-pool")

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:  # a semaphore belongs to one loop
            self._slots, self._slots_loop = asyncio.Semaphore(self.size), loop
        async with self._slots:
            worker = self._take()
            try:
                async with asyncio.timeout(timeout_s):
                    status, value = await loop.run_in_executor(self._threads, worker.roundtrip, fn, args)
            except TimeoutError:
                await self._lose(worker, "timeout", None)
                raise WorkerTimedOut(f"the task ran past its time limit of {timeout_s:g} s") from None
            except (EOFError, OSError):
                reason = await loop.run_in_executor(self._threads, worker.death)
                await self._lose(worker, "crash", reason)
                raise WorkerCrashed(reason) from None
            except BaseException:
                await self._lose(worker, "cancelled", None)  # mid-task: its reply would confuse the next task
                raise
            self._idle.append(worker)
        if status == "ok":
            return value  # type: ignore[no-any-return]
        raise value

    async def map(self, fn: Callable[[Any], T], items: list[Any], *, timeout_s: float) -> list[T]:
        """`fn(item)` for every item side by side, results in order. The first failure stops
        the rest (their workers are killed: a half-read item is tried again as a whole)."""
        if not items:
            return []
        tasks = [asyncio.ensure_future(self.run(fn, item, timeout_s=timeout_s)) for item in items]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        failures = [t.exception() for t in tasks if not t.cancelled() and t.exception() is not None]
        if failures:
            raise failures[0]  # type: ignore[misc]
        return [task.result() for task in tasks]

    def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.process.is_alive():
                return worker
            self._all.discard(worker)
        worker = _Worker(self._context, self.memory_bytes, self._initializer)
        self._all.add(worker)
        return worker

    async def _lose(self, worker: _Worker, kind: str, reason: str | None) -> None:
        self._all.discard(worker)
        await asyncio.get_running_loop().run_in_executor(self._threads, worker.kill)
        obs.WORKERS_LOST.labels(self.name, kind).inc()
        log.warning("worker lost", extra={"stage": self.name, "outcome": kind, "error": reason})

    def close(self) -> None:
        """Stop every worker (idle ones are asked, busy ones killed)."""
        for worker in list(self._all):
            if worker in self._idle:
                with suppress(Exception):
                    worker.conn.send(None)
            worker.kill()
        self._idle.clear()
        self._all.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
