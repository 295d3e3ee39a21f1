"""A small S3 client: the four object calls the blob store needs, signed (SigV4) over httpx.

Bodies stream both ways: an upload reads its source a chunk at a time with the length and
sha256 known in advance (content addressing gives the hash for free, and S3 checks it), and
a download yields chunks as they arrive, its connection holding a bounded amount of unread
bytes whichever event loop runs it (s3_connections.py). Path-style addressing (`endpoint/bucket/key`) works
with AWS, MinIO, SeaweedFS and Ceph. The secret is used only to sign and is never logged;
errors say which call failed and its status, never a key, a header or content.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx

from mailintake_common.s3_connections import bounded_transport

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class ObjectStoreError(RuntimeError):
    """An S3 call failed (the message names the call and status only)."""


class ObjectMissing(ObjectStoreError):
    pass


class ObjectStoreUnavailable(ObjectStoreError):
    """The store could not be reached or answered 5xx: trying again later may work."""


@dataclass(frozen=True)
class S3Config:
    endpoint_url: str
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    timeout_s: float = 30.0

    def __repr__(self) -> str:  # never show the secret, even in a traceback's locals
        return f"S3Config(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r}, region={self.region!r})"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    config: S3Config, method: str, path: str, query: str, headers: dict[str, str], payload_sha256: str, now: datetime
) -> dict[str, str]:
    """The headers that authorise one request (AWS Signature Version 4, service `s3`)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed |= {"host": urlsplit(config.endpoint_url).netloc, "x-amz-date": amz_date}
    signed["x-amz-content-sha256"] = payload_sha256
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            path,
            query,
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{config.region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{config.secret_access_key}".encode()
    for part in (day, config.region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    credential = f"{config.access_key_id}/{scope}"
    auth = f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return {**{k: v for k, v in signed.items() if k != "host"}, "authorization": auth}


class S3Client:
    """Put, get (streamed), head and create-bucket on one bucket; one HTTP pool per event loop."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            for old in [old for old in self._clients if old.is_closed()]:
                del self._clients[old]  # pools of loops that have ended (tests run one loop each)
            timeout = httpx.Timeout(self.config.timeout_s)
            client = self._clients[loop] = httpx.AsyncClient(
                base_url=self.config.endpoint_url, timeout=timeout, transport=bounded_transport()
            )
        return client

    def _path(self, key: str = "") -> str:
        base = urlsplit(self.config.endpoint_url).path.rstrip("/")
        return f"{base}/{quote(self.config.bucket, safe='')}" + (f"/{quote(key, safe='/-_.~')}" if key else "")

    def _request(
        self, method: str, key: str = "", headers: dict[str, str] | None = None, payload_sha256: str = EMPTY_SHA256
    ) -> tuple[str, dict[str, str]]:
        path = self._path(key)
        return path, sign(self.config, method, path, "", headers or {}, payload_sha256, datetime.now(UTC))

    async def put(self, key: str, body: bytes | AsyncIterable[bytes], size: int, sha256: str, media_type: str) -> None:
        """Store `size` bytes under `key`; S3 refuses them if they do not hash to `sha256`."""
        extra = {"content-type": media_type, "content-length": str(size)}
        path, headers = self._request("PUT", key, extra, sha256)
        with _reaching("put"):
            response = await self._http().put(path, content=body, headers=headers)
        _check(response, "put")

    async def head(self, key: str) -> bool:
        path, headers = self._request("HEAD", key)
        with _reaching("head"):
            response = await self._http().head(path, headers=headers)
        if response.status_code == 404:
            return False
        _check(response, "head")
        return True

    async def get(self, key: str, chunk_bytes: int) -> AsyncIterator[bytes]:
        """The object's content, `chunk_bytes` at a time (ObjectMissing before the first chunk)."""
        path, headers = self._request("GET", key)
        with _reaching("get"):
            async with self._http().stream("GET", path, headers=headers) as response:
                if response.status_code == 404:
                    raise ObjectMissing("get: no such object")
                _check(response, "get")
                async for chunk in _chunked(response.aiter_raw(), chunk_bytes):
                    yield chunk

    async def bucket_reachable(self) -> bool:
        """True when the bucket answers a signed HEAD (readiness: endpoint, bucket and keys work)."""
        try:
            path, headers = self._request("HEAD")
            return (await self._http().head(path, headers=headers)).status_code == 200
        except httpx.HTTPError:
            return False

    async def delete(self, key: str) -> None:
        path, headers = self._request("DELETE", key)
        with _reaching("delete"):
            response = await self._http().delete(path, headers=headers)
        _check(response, "delete")

    async def create_bucket(self) -> None:
        """Create the bucket if it is not there yet (for development and tests)."""
        path, headers = self._request("PUT")
        with _reaching("create bucket"):
            response = await self._http().put(path, headers=headers)
        if response.status_code == 409:  # BucketAlreadyOwnedByYou / BucketAlreadyExists
            return
        _check(response, "create bucket")

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            if not client.is_closed:
                await client.aclose()


async def _chunked(pieces: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """The bytes of `pieces` again, `size` at a time (the last may be shorter).

    The stored bytes as they are (raw: never content-decoded), gathered in one buffer: a chunk
    costs one buffer and one copy, where httpx's `aiter_bytes(size)` held about four.
    """
    buffer = bytearray()
    async for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            with memoryview(buffer) as view:
                chunk = bytes(view[:size])
            del buffer[:size]
            yield chunk
    if buffer:
        yield bytes(buffer)


@contextmanager
def _reaching(call: str) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:  # connect, read, write, timeouts
        raise ObjectStoreUnavailable(f"{call}: object store unreachable ({type(exc).__name__})") from None


def _check(response: httpx.Response, call: str) -> None:
    if response.status_code == 404:
        raise ObjectMissing(f"{call}: no such object or bucket")
    if response.status_code >= 500:
        raise ObjectStoreUnavailable(f"{call}: object store answered {response.status_code}")
    if response.status_code >= 300:
        raise ObjectStoreError(f"{call}: object store answered {response.status_code}")
