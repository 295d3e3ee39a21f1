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
A task and its reply cross a socket pair as one length-prefixed pickle; the service's side is
non-blocking and read on the event loop (issue 18: a thread per hand-off cost more CPU than the
hand-off itself, most of it waiting for the GIL), the worker's side blocks.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import socket
import struct
import time
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any, TypeVar

from mailintake_common import observability as obs

log = logging.getLogger(__name__)

T = TypeVar("T")

_MEMORY_EXIT = 70  # a worker's exit status after it ran out of memory
_LENGTH = struct.Struct("!Q")  # each message: its pickle's length, then the pickle
_FIRST_READ = 64 * 1024  # a reply's first read: the whole of most replies
_REAP_S = 5.0  # how long a killed or dying worker is waited for


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


def _framed(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _read_message(stream: io.BufferedReader) -> Any:
    """The next message on a worker's (blocking) end; EOFError when the service's end closed."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _worker_main(sock: socket.socket, memory_bytes: int, initializer: Callable[[], None] | None) -> None:
    """A worker's life: set the limits, then run tasks one at a time until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in `make run` stops the service, which stops us
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        if initializer is not None:
            initializer()
    except MemoryError:
        os._exit(_MEMORY_EXIT)
    sock.setblocking(True)
    stream = sock.makefile("rb")
    while True:
        try:
            message = _read_message(stream)
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
            data = _framed(reply)
        except MemoryError:
            os._exit(_MEMORY_EXIT)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            data = _framed(("error", WorkerTaskError(type(exc).__name__)))
        try:
            sock.sendall(data)
        except OSError:
            return


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else its class name only."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return WorkerTaskError(type(exc).__name__)
    return exc


class _Worker:
    def __init__(self, context: Any, memory_bytes: int, initializer: Callable[[], None] | None) -> None:
        ours, theirs = socket.socketpair()
        self.process = context.Process(
            target=_worker_main, args=(theirs, memory_bytes, initializer), daemon=True, name="mailintake-worker"
        )
        try:
            self.process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # only the worker holds its end: its death reads as end-of-file here
        ours.setblocking(False)
        self.sock = ours

    async def roundtrip(self, loop: asyncio.AbstractEventLoop, message: bytes) -> tuple[str, Any]:
        """Send one framed task, read its reply on the loop (EOFError when the worker dies)."""
        await loop.sock_sendall(self.sock, message)
        data: bytes | bytearray = await loop.sock_recv(self.sock, _FIRST_READ)
        while len(data) < _LENGTH.size:
            more = await loop.sock_recv(self.sock, _FIRST_READ)
            if not more:
                raise EOFError
            data += more
        end = _LENGTH.size + _LENGTH.unpack_from(data)[0]
        if len(data) < end:  # a large reply: the rest straight into a buffer of its size
            buffer = bytearray(end)
            buffer[: len(data)] = data
            view, got = memoryview(buffer), len(data)
            while got < end:
                count = await loop.sock_recv_into(self.sock, view[got:])
                if not count:
                    raise EOFError
                got += count
            data = buffer
        return pickle.loads(memoryview(data)[_LENGTH.size : end])  # type: ignore[no-any-return]

    async def death(self) -> str:
        """Why the worker is gone, in words safe for a log and a dead letter."""
        await self.reaped()
        code = self.process.exitcode
        if code == _MEMORY_EXIT:
            return "the worker ran out of memory (memory limit)"
        if code is not None and code < 0:
            with suppress(ValueError):
                return f"the worker was killed by {signal.Signals(-code).name}"
        return f"the worker exited (status {code})"

    def kill(self) -> None:
        """Kill the process at once (reaped by `reaped`, or by the next `multiprocessing` call)."""
        with suppress(Exception):
            self.process.kill()
        with suppress(OSError):
            self.sock.close()

    async def reaped(self) -> None:
        """Wait (on the loop, up to five seconds) for the process to end."""
        deadline = time.monotonic() + _REAP_S
        pause = 0.001
        while self.process.exitcode is None and time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)


def _started(_: int) -> int:
    """A worker's first task from `SupervisedPool.start`: it answers once its initializer has run."""
    return os.getpid()


class SupervisedPool:
    """`await pool.run(fn, *args, timeout_s=...)` runs `fn(*args)` in a worker process.

    At most `size` tasks run at once; each has its own time limit, every worker the same
    memory limit (bytes of address space, 0 for none). Workers start on first use, or all
    at once with `start`, and a lost one is replaced by the next task that needs one.
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

    async def start(self, *, timeout_s: float) -> None:
        """Start the workers the pool lacks now and wait until each has run the initializer, so
        the first tasks do not pay for it (issue 18). Raises `WorkerLost` when one could not
        start: the pool stays usable, and the next task starts the worker it needs, as before."""
        await self._together([self._run(_started, (n,), timeout_s, fresh=True) for n in range(self.size)])

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        return await self._run(fn, args, timeout_s)  # type: ignore[return-value]

    async def map(self, fn: Callable[[Any], T], items: list[Any], *, timeout_s: float) -> list[T]:
        """`fn(item)` for every item side by side, results in order. The first failure stops
        the rest (their workers are killed: a half-read item is tried again as a whole)."""
        return await self._together([self.run(fn, item, timeout_s=timeout_s) for item in items])

    async def _run(
        self, fn: Callable[..., T], args: tuple[Any, ...], timeout_s: float, fresh: bool = False
    ) -> T | None:
        """`fn(*args)` in a worker: an idle one, else a new one; with `fresh`, only in a new one
        while the pool has fewer than `size` (else nothing runs: None)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:  # a semaphore belongs to one loop
            self._slots, self._slots_loop = asyncio.Semaphore(self.size), loop
        message = _framed((fn, args))  # before a worker is taken: an argument that cannot cross costs none
        async with self._slots:
            if fresh and len(self._live()) >= self.size:
                return None
            worker = self._spawn() if fresh else self._take()
            try:
                async with asyncio.timeout(timeout_s):
                    status, value = await worker.roundtrip(loop, message)
            except TimeoutError:
                await self._lose(worker, "timeout", None)
                raise WorkerTimedOut(f"the task ran past its time limit of {timeout_s:g} s") from None
            except (EOFError, OSError):
                reason = await worker.death()
                await self._lose(worker, "crash", reason)
                raise WorkerCrashed(reason) from None
            except BaseException:
                await self._lose(worker, "cancelled", None)  # mid-task: its reply would confuse the next task
                raise
            self._idle.append(worker)
        if status == "ok":
            return value  # type: ignore[no-any-return]
        raise value

    @staticmethod
    async def _together(runs: list[Coroutine[Any, Any, T]]) -> list[T]:
        if not runs:
            return []
        tasks = [asyncio.ensure_future(run) for run in runs]
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
            worker.kill()
        return self._spawn()

    def _live(self) -> set[_Worker]:
        """Every worker, less idle ones that died while idle (let go here)."""
        for worker in [w for w in self._idle if not w.process.is_alive()]:
            self._idle.remove(worker)
            self._all.discard(worker)
            worker.kill()
        return self._all

    def _spawn(self) -> _Worker:
        worker = _Worker(self._context, self.memory_bytes, self._initializer)
        self._all.add(worker)
        return worker

    async def _lose(self, worker: _Worker, kind: str, reason: str | None) -> None:
        # killed before anything is awaited: a second cancellation cannot leave it running
        self._all.discard(worker)
        worker.kill()
        obs.WORKERS_LOST.labels(self.name, kind).inc()
        log.warning("worker lost", extra={"stage": self.name, "outcome": kind, "error": reason})
        await worker.reaped()

    def close(self) -> None:
        """Stop every worker (idle ones are asked, busy ones killed)."""
        for worker in list(self._all):
            if worker in self._idle:
                with suppress(Exception):
                    worker.sock.send(_framed(None))
            worker.kill()
            worker.process.join(_REAP_S)
        self._idle.clear()
        self._all.clear()


async def start_ahead(pool: SupervisedPool, timeout_s: float = 120.0) -> None:
    """Every worker of `pool` started while its service starts, not by the first tasks (issue 18:
    a worker's start is its initializer and imports, 0.3 s of CPU and more). Run it in the
    background (readiness does not wait). A failure is only logged: the next task starts the
    worker it needs, as before."""
    try:
        await pool.start(timeout_s=timeout_s)
    except Exception as exc:
        log.warning("workers not started ahead", extra={"stage": pool.name, "error": type(exc).__name__})
