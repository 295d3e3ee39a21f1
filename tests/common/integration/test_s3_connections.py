"""The S3 client's connections hold a bounded part of a download, whichever event loop runs them
(issue 17, s3_connections.py).

A server thread on loopback answers with tens of MiB as fast as the socket takes them, over
plain TCP and over TLS (a certificate made here), while the client reads slowly; the client runs
on the asyncio loop and on uvloop (the services' default). What Python holds while it downloads
(tracemalloc's peak) must stay under 2 MiB: httpx's own connections held up to 7.8 MiB more on
uvloop, which libuv fills with up to 32 reads of 256000 bytes per readable event.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import threading
import tracemalloc
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import pytest
import uvloop

from mailintake_common.s3_connections import bounded_transport
from tests.factories.tls import TestAuthority

MiB = 1024 * 1024
PIECE = os.urandom(64 * 1024)


class BulkServer:
    """Answers each GET with `pieces` copies of PIECE, or with nothing at all (`silent`), or closes
    the connection after one answer (`one_per_connection`)."""

    def __init__(
        self, pieces: int, tls: ssl.SSLContext | None, *, silent: bool = False, one_per_connection: bool = False
    ):
        self.pieces, self.tls, self.silent, self.one_per_connection = pieces, tls, silent, one_per_connection
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            self.connections += 1
            with suppress(OSError), raw:
                conn = self.tls.wrap_socket(raw, server_side=True) if self.tls else raw
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        request = b""
        while True:
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            request = request.split(b"\r\n\r\n", 1)[1]
            if self.silent:
                conn.recv(1)  # until the client gives up
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(PIECE) * self.pieces))
            for _ in range(self.pieces):
                conn.sendall(PIECE)
            if self.one_per_connection:
                return

    def __enter__(self) -> BulkServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts: a certificate for 127.0.0.1 and a client that trusts its CA."""
    authority = TestAuthority(tmp_path_factory.mktemp("s3-ca"))
    issued = authority.issue("object-store")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(issued.cert, issued.key)
    return server, ssl.create_default_context(cafile=str(authority.ca_file))


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def run(loop: str, coroutine: Coroutine[Any, Any, Any]) -> Any:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(coroutine)


@contextmanager
def traced() -> Iterator[Callable[[], int]]:
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def slow_download(url: str, client_tls: ssl.SSLContext | None) -> tuple[str, int, int]:
    """(sha256, size, peak bytes traced) of a GET read the way a busy service reads: a pause now and then."""
    async with httpx.AsyncClient(transport=bounded_transport(ssl_context=client_tls), timeout=30) as http:
        await http.get(f"{url}/warm-up", headers={"Range": "bytes=0-0"})  # connection and TLS set up first
        digest, size = hashlib.sha256(), 0
        with traced() as peak:
            async with http.stream("GET", f"{url}/scan") as response:
                async for piece in response.aiter_raw():
                    digest.update(piece)
                    size += len(piece)
                    if size % MiB < len(piece):
                        await asyncio.sleep(0.003)  # the socket fills meanwhile
            return digest.hexdigest(), size, peak()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_slow_reader_holds_a_bounded_part_of_a_fast_download(
    loop: str, tls: bool, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    pieces = 384  # 24 MiB
    expected = hashlib.sha256()
    for _ in range(pieces):
        expected.update(PIECE)
    with BulkServer(pieces, tls_contexts[0] if tls else None) as server:
        sha, size, peak = run(loop, slow_download(server.url, tls_contexts[1] if tls else None))
    print(f"{loop} {'tls' if tls else 'tcp'}: {peak / MiB:.2f} MiB traced at most")
    assert (sha, size) == (expected.hexdigest(), pieces * len(PIECE))
    assert peak < 2 * MiB, f"{peak / MiB:.1f} MiB held while downloading 24 MiB"


async def get_twice(url: str, pause_s: float) -> list[int]:
    async with httpx.AsyncClient(transport=bounded_transport(), timeout=10) as http:
        first = await http.get(f"{url}/one")
        await asyncio.sleep(pause_s)  # the server closes the idle connection meanwhile
        second = await http.get(f"{url}/two")
        return [first.status_code, len(first.content), second.status_code, len(second.content)]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_pooled_connection_the_server_closed_is_not_reused(loop: str) -> None:
    with BulkServer(2, None, one_per_connection=True) as server:
        assert run(loop, get_twice(server.url, 0.2)) == [200, 2 * len(PIECE), 200, 2 * len(PIECE)]
        assert server.connections == 2


async def fetch(url: str, timeout_s: float) -> None:
    async with httpx.AsyncClient(transport=bounded_transport(), timeout=timeout_s) as http:
        await http.get(f"{url}/scan")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_failures_are_httpx_transport_errors(loop: str) -> None:
    """What the S3 client turns into ObjectStoreUnavailable: nobody listening, nothing answered."""
    nobody = socket.create_server(("127.0.0.1", 0))
    port = nobody.getsockname()[1]
    nobody.close()
    with pytest.raises(httpx.ConnectError):
        run(loop, fetch(f"http://127.0.0.1:{port}", 5))
    with BulkServer(1, None, silent=True) as server, pytest.raises(httpx.ReadTimeout):
        run(loop, fetch(server.url, 0.3))


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_an_endpoint_given_by_name_connects_whichever_of_its_addresses_answers(loop: str) -> None:
    """`localhost` may name ::1 before 127.0.0.1, where the server listens: the next address is tried."""
    with BulkServer(1, None) as server:
        by_name = server.url.replace("127.0.0.1", "localhost")
        assert run(loop, get_twice(by_name, 0)) == [200, len(PIECE), 200, len(PIECE)]
