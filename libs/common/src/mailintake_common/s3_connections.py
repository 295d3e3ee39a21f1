"""The S3 client's connections: they stop reading from the socket while a response's unread
bytes exceed a bound, on either event loop (issue 17).

httpx's own network layer (httpcore over anyio) reads the socket while its reader waits and
queues every chunk the event loop hands it meanwhile. Under uvloop one readable event makes libuv read
the socket up to 32 times in a row (libuv's `uv__read`), each time up to uvloop's 256000-byte
receive buffer, before any coroutine runs: a download from a fast store queued up to 8,192,000
bytes (7.8 MiB) per connection. That is a fixed amount, not growing with the object, but it
doubled what streaming a scan cost quarantine (docs/performance.md). The asyncio loop reads
256 KiB per event, so it never showed there.

Here the protocol pauses the transport from inside `data_received` as soon as the unread bytes
reach `high_water`, which also ends libuv's read loop at once; reading resumes when the reader
has taken them below it. A connection so holds at most `high_water` plus one read of unread
bytes. Only what Python holds is bounded: the kernel's socket buffer still grows as TCP needs,
so throughput does not suffer.

Connecting, asyncio's loop tries a host name's addresses staggered (happy eyeballs, as anyio did
on either loop); uvloop has no such option and tries them one after another, which matters only
for an endpoint name with addresses that cannot be reached.

httpx offers no setting for the network backend, so `bounded_transport` gives an
`httpx.AsyncHTTPTransport` a connection pool that uses this one
(tests/common/integration/test_s3_connections.py holds it to the bound, over TCP and TLS).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import httpcore
import httpx

HIGH_WATER_BYTES = 256 * 1024  # unread bytes per connection before it stops reading the socket
HAPPY_EYEBALLS_DELAY_S = 0.25  # RFC 8305, as anyio: the next address is tried this long after the last


class BoundedProtocol(asyncio.Protocol):
    """One connection's bytes received and not yet read, and its write flow control."""

    def __init__(self, high_water: int) -> None:
        self.high_water = high_water
        self.transport: asyncio.Transport | None = None
        self.unread = bytearray()
        self.ended = False
        self.error: Exception | None = None
        self.reading_paused = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.unread += data
        if len(self.unread) >= self.high_water and not self.reading_paused and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._can_write.set()
        self._wake()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def _wake(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    async def read(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` of what has arrived, waiting for some; b"" once the peer has closed."""
        while not self.unread and not self.ended:
            self._data_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._data_waiter
            finally:
                self._data_waiter = None
        if not self.unread:
            if self.error is not None:
                raise self._broken()
            return b""
        with memoryview(self.unread) as view:
            chunk = bytes(view[:max_bytes])
        del self.unread[:max_bytes]
        if self.reading_paused and len(self.unread) < self.high_water and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return chunk

    async def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise self._broken()
        self.transport.write(data)
        await self._can_write.wait()
        if self.error is not None:
            raise self._broken()

    def _broken(self) -> OSError:
        """Why the connection is gone, as an OSError (what the stream maps to httpcore's errors)."""
        if isinstance(self.error, OSError):
            return self.error
        return ConnectionResetError(f"the connection is closed ({type(self.error).__name__})")


@contextmanager
def _mapped(timeout: type[Exception], failure: type[Exception]) -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:  # before OSError: TimeoutError is one
        raise timeout(str(exc)) from exc
    except OSError as exc:  # connection reset, refused, unreachable; ssl.SSLError is one too
        raise failure(str(exc)) from exc


class BoundedStream(httpcore.AsyncNetworkStream):
    def __init__(self, protocol: BoundedProtocol) -> None:
        self.protocol = protocol

    @property
    def _transport(self) -> asyncio.Transport:
        assert self.protocol.transport is not None
        return self.protocol.transport

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError):
            async with asyncio.timeout(timeout):
                return await self.protocol.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError):
            async with asyncio.timeout(timeout):
                await self.protocol.write(buffer)

    async def aclose(self) -> None:
        self._transport.close()  # flushes what is written, then closes; nothing to wait for

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
                async with asyncio.timeout(timeout):
                    tls = await loop.start_tls(
                        self._transport, self.protocol, ssl_context, server_hostname=server_hostname
                    )
        except BaseException:
            self._transport.abort()
            raise
        assert tls is not None
        self.protocol.transport = cast(asyncio.Transport, tls)  # the protocol now hears from the TLS layer
        self.protocol.reading_paused = False
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle pooled connection the server closed (or wrote to) is not reused
            return self.protocol.ended or bool(self.protocol.unread) or self._transport.is_closing()
        names = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername", "socket": "socket"}
        return self._transport.get_extra_info(names[info]) if info in names else None


class BoundedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on the running asyncio (or uvloop) loop, with `BoundedProtocol`."""

    def __init__(self, high_water: int = HIGH_WATER_BYTES) -> None:
        self.high_water = high_water

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        options: dict[str, Any] = {"local_addr": (local_address, 0) if local_address else None}
        if isinstance(loop, asyncio.BaseEventLoop):  # uvloop tries a name's addresses one by one
            options["happy_eyeballs_delay"] = HAPPY_EYEBALLS_DELAY_S
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(
                    lambda: BoundedProtocol(self.high_water), host, port, **options
                )
        stream = BoundedStream(protocol)
        for option in socket_options or ():
            stream.get_extra_info("socket").setsockopt(*option)
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_unix_connection(lambda: BoundedProtocol(self.high_water), path)
        return BoundedStream(protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def bounded_transport(
    high_water: int = HIGH_WATER_BYTES, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport with httpx's defaults (certificates, `SSL_CERT_FILE`, limits) whose
    connections are bounded."""
    transport = httpx.AsyncHTTPTransport()
    limits = httpx.Limits()
    transport._pool = httpcore.AsyncConnectionPool(  # httpx has no parameter for the network backend
        ssl_context=ssl_context or httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=BoundedBackend(high_water),
    )
    return transport
