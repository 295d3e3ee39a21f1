"""The pipeline bench's load generator: HTTP/1.1 POSTs on kept-alive connections, each document's
bytes made from a template per letter (issue 18).

The bench runs its client on the same two cores as the services it measures. httpx with the
factories' e-mail builder cost about 2.2 CPU ms per POST (0.36 of it building the e-mail): at 100
documents/s a fifth of a core the services could not have. This client sends the same requests
(same bodies, headers that matter, one connection per concurrent sender) for a tenth of that, and
`BENCH_CLIENT=httpx` runs the old client for comparison. Intake answers it as any client: it is
tested against the real service in tests/bench/test_load.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from tests.factories.documents import email_bytes, webform


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Poster(Protocol):
    async def post(self, path: str, body: bytes, content_type: str) -> Answer: ...

    async def aclose(self) -> None: ...


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[Answer, bool]:
        """(the answer, whether the connection can be used again)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, keep = 0, True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not expected from intake")
        return Answer(status, await self.reader.readexactly(length)), keep

    def close(self) -> None:
        self.writer.close()


@dataclass
class LeanClient:
    """POSTs to one service over kept-alive connections: one per request in flight, reused."""

    base_url: str
    headers: dict[str, str]
    _idle: list[_Connection] = field(default_factory=list)
    _host: str = field(init=False)
    _port: int = field(init=False)
    _head: str = field(init=False)  # the Host line and the fixed headers, made once

    def __post_init__(self) -> None:
        url = urlsplit(self.base_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        fixed = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        self._head = f"Host: {self._host}:{self._port}\r\n{fixed}"

    async def post(self, path: str, body: bytes, content_type: str) -> Answer:
        host, port = self._host, self._port
        request = (
            f"POST {path} HTTP/1.1\r\n{self._head}Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more on a new one
            if attempt == 1 and self._idle:
                connection = self._idle.pop()
            else:  # (not another idle one: the server closes those idle past its keep-alive timeout alike)
                connection = _Connection(*await asyncio.open_connection(host, port))
            try:
                answer, keep = await connection.exchange(request)
            except (ConnectionError, asyncio.IncompleteReadError):
                connection.close()
                if attempt == 2:
                    raise
                continue
            if keep:
                self._idle.append(connection)
            else:
                connection.close()
            return answer
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()


class HttpxClient:
    """The same interface over httpx (`BENCH_CLIENT=httpx`): the client the bench used before."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60)

    async def post(self, path: str, body: bytes, content_type: str) -> Answer:
        response = await self._http.post(path, content=body, headers={"Content-Type": content_type})
        return Answer(response.status_code, response.content)

    async def aclose(self) -> None:
        await self._http.aclose()


class Documents:
    """Document `i`'s request: (path, body, content type). Odd `i` a web form, even an e-mail; each
    with a fresh unique line before `letter(i)` and (e-mails) a fresh Message-ID, as the factories
    would make it, but by replacing two markers in a template made once per letter."""

    def __init__(self, letter: Callable[[int], str], letters: int) -> None:
        self._letter = letter
        self._letters = letters
        self._templates: dict[tuple[int, int], bytes] = {}
        self._body_marker, self._id_marker = uuid.uuid4().hex, uuid.uuid4().hex

    def __call__(self, i: int) -> tuple[str, bytes, str]:
        key = (i % 2, (i // 2) % self._letters)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._template(i)
        body = template.replace(self._body_marker.encode(), uuid.uuid4().hex.encode())
        if i % 2:
            return "/v1/webforms", body, "application/json"
        return (
            "/v1/emails?mailbox=edc",
            body.replace(self._id_marker.encode(), uuid.uuid4().hex.encode()),
            "message/rfc822",
        )

    def _template(self, i: int) -> bytes:
        if i % 2:
            made = json.dumps({**webform(), "fields": {"message": self._body_marker + self._letter(i)}}).encode()
        else:
            made = email_bytes(body=self._body_marker + self._letter(i), message_id=f"<{self._id_marker}@example.org>")
        for marker in (self._body_marker, self._id_marker) if not i % 2 else (self._body_marker,):
            if made.count(marker.encode()) != 1:  # encoded away (base64, a folded line): no template
                raise ValueError(f"letter {i}: its marker is not in the bytes once")
        return made
