"""Content-addressed blob store: content is stored once under its sha256.

Events carry a `BlobRef` (sha256, size, media type), never the content. Two stores keep the
same promise behind one small `BlobStore` protocol, chosen by `MAILINTAKE_BLOB_STORE`:

- `postgres` (the default, and `make run`'s): content in the `blobs` row, so it commits in the
  same transaction as the document that names it.
- `s3`: content in an S3-compatible bucket under `<prefix><sha256>`, PostgreSQL keeps only the
  metadata row (content NULL). The object is uploaded *before* the row is written, inside the
  caller's transaction, so a committed document never names a missing object; a rollback
  leaves at most an orphan object, which is harmless (the same bytes would be stored under
  the same name again). Rows written with content before a switch to `s3` are still read.

Large content streams: `put_file` reads a seekable file a chunk at a time and `stream` yields
chunks, so a 50 MB scan is never held whole by the S3 store. The PostgreSQL store must hand
bytea whole to the database on write, but it too reads in chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from contextvars import ContextVar
from functools import lru_cache
from operator import itemgetter
from types import MappingProxyType
from typing import IO, Protocol

from sqlalchemy import String, bindparam, delete, func, literal, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import statements
from mailintake_common.blob_links import blob_key
from mailintake_common.db import SETTINGS_OPTION, reading
from mailintake_common.events import BlobRef
from mailintake_common.s3 import ObjectMissing, S3Client, S3Config
from mailintake_common.settings import CommonSettings, MiB
from mailintake_common.statements import Statement
from mailintake_common.tables import blobs
from mailintake_common.writes import Writes, rows_insert

DEFAULT_MEDIA_TYPE = "application/octet-stream"
LOCK_SPACE = 0x5333  # "S3": the first key of the per-sha advisory locks (the second is the sha's first 28 bits)


class BlobNotFound(LookupError):
    pass


class BlobReader(Protocol):
    """What reading content needs (`Spool.fetch`): every store, and `reader`'s."""

    async def get(self, ref: BlobRef | str) -> bytes: ...

    def stream(self, ref: BlobRef | str) -> AsyncIterator[bytes]:
        """The content a chunk at a time (BlobNotFound before the first chunk)."""
        ...


class BlobStore(BlobReader, Protocol):
    """What every blob store offers; a store is bound to one database connection."""

    async def put(self, content: bytes, media_type: str = DEFAULT_MEDIA_TYPE) -> BlobRef: ...

    async def put_file(self, file: IO[bytes], media_type: str = DEFAULT_MEDIA_TYPE) -> BlobRef:
        """Store a seekable binary file from its start, reading it a chunk at a time."""
        ...

    async def exists(self, ref: BlobRef | str) -> bool: ...

    async def delete(self, ref: BlobRef | str) -> bool:
        """Remove the content (records disposal, retention.py); False when it was not there.

        Refused by the database (IntegrityError) while any document is linked to the blob.
        """
        ...


def blob_ref(content: bytes, media_type: str) -> BlobRef:
    return BlobRef(sha256=hashlib.sha256(content).hexdigest(), size=len(content), media_type=media_type)


def file_ref(file: IO[bytes], media_type: str, chunk_bytes: int = MiB) -> BlobRef:
    """The reference of a seekable file's content, read a chunk at a time; leaves it at its start."""
    file.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := file.read(chunk_bytes):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    return BlobRef(sha256=digest.hexdigest(), size=size, media_type=media_type)


def _sha(ref: BlobRef | str) -> str:
    return ref if isinstance(ref, str) else ref.sha256


async def _joined(chunks: AsyncIterator[bytes]) -> bytes:
    out = bytearray()
    async for chunk in chunks:
        out += chunk
    return bytes(out)


class PostgresBlobStore:
    """Content in the `blobs` row itself, written in the caller's transaction.

    With `writes` (a unit of work's), content up to a chunk waits for the unit's one write
    statement before COMMIT (issue 18); larger content is written at once, so a unit never holds
    more than a chunk of each part it stores."""

    def __init__(self, conn: AsyncConnection, chunk_bytes: int = MiB, writes: Writes | None = None) -> None:
        self._conn = conn
        self._chunk = chunk_bytes
        self._writes = writes

    async def record(self, ref: BlobRef, content: bytes | None) -> None:
        """Write the row for `ref` (content None: the content is elsewhere); a second one is a no-op."""
        row = {"sha256": ref.sha256, "size": ref.size, "media_type": ref.media_type, "content": content}
        if self._writes is not None and len(content or b"") <= self._chunk:
            await self._writes.add(
                self._conn, BLOB_ROWS, row, key=blob_key(ref.sha256)
            )  # the same bytes again: one row
        else:
            await self._conn.execute(_ignoring_repeats(insert(blobs).values(row)))

    async def put(self, content: bytes, media_type: str = DEFAULT_MEDIA_TYPE) -> BlobRef:
        ref = blob_ref(content, media_type)
        await self.record(ref, content)
        return ref

    async def put_file(self, file: IO[bytes], media_type: str = DEFAULT_MEDIA_TYPE) -> BlobRef:
        # bytea goes to the database whole: the file is read once, after hashing in chunks
        ref = await asyncio.to_thread(file_ref, file, media_type, self._chunk)
        await self.record(ref, await asyncio.to_thread(file.read))
        return ref

    async def get(self, ref: BlobRef | str) -> bytes:
        sha = _sha(ref)
        if (known := _PREFETCHED.get().get(sha)) is not None:  # read with the event's check-in
            return known
        rows = await statements.run(self._conn, _CONTENT, {"sha": sha})
        if not rows or rows[0] is None:
            raise BlobNotFound(sha)
        return bytes(rows[0])

    async def stream(self, ref: BlobRef | str) -> AsyncIterator[bytes]:
        sha = _sha(ref)
        length = func.octet_length(blobs.c.content)
        size = (await self._conn.execute(select(length).where(blobs.c.sha256 == sha))).scalar_one_or_none()
        if size is None:
            raise BlobNotFound(sha)
        for start in range(0, size, self._chunk):  # substring is 1-based
            piece = func.substring(blobs.c.content, literal(start + 1), literal(self._chunk))
            yield bytes((await self._conn.execute(select(piece).where(blobs.c.sha256 == sha))).scalar_one())

    async def exists(self, ref: BlobRef | str) -> bool:
        query = select(blobs.c.sha256).where(blobs.c.sha256 == _sha(ref), blobs.c.content.is_not(None))
        return (await self._conn.execute(query)).first() is not None

    async def delete(self, ref: BlobRef | str) -> bool:
        result = await self._conn.execute(delete(blobs).where(blobs.c.sha256 == _sha(ref)))
        return bool(result.rowcount)  # type: ignore[attr-defined]


_CONTENT = Statement(select(blobs.c.content).where(blobs.c.sha256 == bindparam("sha", type_=String)), itemgetter(0))
_PREFETCHED: ContextVar[Mapping[str, bytes]] = ContextVar("mailintake_prefetched_blobs", default=MappingProxyType({}))


@contextmanager
def prefetched(contents: Mapping[str, bytes]) -> Iterator[None]:
    """Within the block, the PostgreSQL store's `get` answers these blobs (sha256 -> content,
    read with an event's check-in: `attempts.check_in_batch`) without a statement (issue 18).
    Content is addressed by its sha256, so what was read then is what a read now would give."""
    token = _PREFETCHED.set(contents)
    try:
        yield
    finally:
        _PREFETCHED.reset(token)


class _ReaderAsNeeded:
    """Reads content; checks out a connection only for a blob the event's check-in did not bring."""

    def __init__(self, engine: AsyncEngine, stack: AsyncExitStack) -> None:
        self._engine = engine
        self._stack = stack
        self._store: BlobStore | None = None

    async def _opened(self) -> BlobStore:
        if self._store is None:
            self._store = blob_store(await self._stack.enter_async_context(reading(self._engine)))
        return self._store

    async def get(self, ref: BlobRef | str) -> bytes:
        if (known := _PREFETCHED.get().get(_sha(ref))) is not None:
            return known
        return await (await self._opened()).get(ref)

    async def stream(self, ref: BlobRef | str) -> AsyncIterator[bytes]:
        if (known := _PREFETCHED.get().get(_sha(ref))) is not None:
            yield known  # at most the check-in's per-blob limit (MAILINTAKE_CONSUMER_PREFETCH_BLOB_BYTES)
            return
        async for chunk in (await self._opened()).stream(ref):
            yield chunk


@asynccontextmanager
async def reader(engine: AsyncEngine) -> AsyncIterator[BlobReader]:
    """Reads content for a handler (issue 18): what came with its event's check-in (`prefetched`)
    without a statement or even a connection; anything else through a connection that needs no
    transaction (`db.reading`), checked out at the first such read and held to the block's end."""
    async with AsyncExitStack() as stack:
        yield _ReaderAsNeeded(engine, stack)


def _ignoring_repeats(statement: Insert) -> Insert:
    return statement.on_conflict_do_nothing(index_elements=["sha256"])


BLOB_ROWS = rows_insert("blob", blobs, ("sha256", "size", "media_type", "content"), _ignoring_repeats)


class S3BlobStore:
    """Content in an S3 bucket, its metadata row (content NULL) in the caller's transaction."""

    def __init__(self, conn: AsyncConnection, client: S3Client, prefix: str, chunk_bytes: int = MiB) -> None:
        self._conn = conn
        self._client = client
        self._prefix = prefix
        self._chunk = chunk_bytes
        self._rows = PostgresBlobStore(conn, chunk_bytes)

    def key(self, ref: BlobRef | str) -> str:
        return f"{self._prefix}{_sha(ref)}"

    async def _hold(self, sha: str) -> None:
        """This sha's lock until the transaction ends: an upload and a deletion of the same
        content never interleave (a deletion cannot remove an object a new row is about to name)."""
        await self._conn.execute(select(func.pg_advisory_xact_lock(LOCK_SPACE, int(sha[:7], 16))))

    async def put(self, content: bytes, media_type: str = DEFAULT_MEDIA_TYPE) -> BlobRef:
        ref = blob_ref(content, media_type)
        await self._hold(ref.sha256)
        await self._client.put(self.key(ref), content, ref.size, ref.sha256, media_type)
        await self._rows.record(ref, None)  # only after the object is there
        return ref

    async def put_file(self, file: IO[bytes], media_type: str = DEFAULT_MEDIA_TYPE) -> BlobRef:
        ref = await asyncio.to_thread(file_ref, file, media_type, self._chunk)
        await self._hold(ref.sha256)
        await self._client.put(self.key(ref), self._read_chunks(file), ref.size, ref.sha256, media_type)
        await self._rows.record(ref, None)
        return ref

    async def _read_chunks(self, file: IO[bytes]) -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(file.read, self._chunk):
            yield chunk

    async def get(self, ref: BlobRef | str) -> bytes:
        return await _joined(self.stream(ref))

    async def stream(self, ref: BlobRef | str) -> AsyncIterator[bytes]:
        if await self._content_in_row(ref):  # written to PostgreSQL before the switch to S3
            async for chunk in self._rows.stream(ref):
                yield chunk
            return
        try:
            async for chunk in self._client.get(self.key(ref), self._chunk):
                yield chunk
        except ObjectMissing:
            raise BlobNotFound(_sha(ref)) from None

    async def exists(self, ref: BlobRef | str) -> bool:
        try:
            in_row = await self._content_in_row(ref)
        except BlobNotFound:
            return False
        return in_row or await self._client.head(self.key(ref))

    async def delete(self, ref: BlobRef | str) -> bool:
        """The row first (the foreign key refuses while a document names it), then the object.

        A rollback after this leaves a row whose object is gone: only retention deletes, and only
        content it is disposing of, so the next run deletes the row again.
        """
        await self._hold(_sha(ref))
        if not await self._rows.delete(ref):
            return False
        await self._client.delete(self.key(ref))
        return True

    async def _content_in_row(self, ref: BlobRef | str) -> bool:
        """Whether the row holds the content itself; BlobNotFound without a row (none committed)."""
        query = select(blobs.c.content.is_not(None)).where(blobs.c.sha256 == _sha(ref))
        row = (await self._conn.execute(query)).first()
        if row is None:
            raise BlobNotFound(_sha(ref))
        return bool(row[0])


@lru_cache(maxsize=8)
def _client(config: S3Config) -> S3Client:
    return S3Client(config)


def s3_config(settings: CommonSettings) -> S3Config:
    if settings.s3_access_key_id is None or settings.s3_secret_access_key is None:
        raise ValueError("MAILINTAKE_BLOB_STORE=s3 needs MAILINTAKE_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY")
    return S3Config(
        endpoint_url=settings.s3_endpoint_url,
        bucket=settings.s3_bucket,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id.get_secret_value(),
        secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        timeout_s=settings.s3_timeout_s,
    )


@lru_cache(maxsize=1)
def _environment_settings() -> CommonSettings:
    return CommonSettings()


def blob_store(
    conn: AsyncConnection, settings: CommonSettings | None = None, *, writes: Writes | None = None
) -> BlobStore:
    """The store `settings` choose, bound to `conn`.

    Without `settings`: those the connection's engine was made with (db.make_engine), else the
    process's environment. `writes`: a unit of work's deferred writes (the PostgreSQL store's).
    """
    carried = conn.sync_connection.get_execution_options().get(SETTINGS_OPTION) if conn.sync_connection else None
    settings = settings or (carried if isinstance(carried, CommonSettings) else _environment_settings())
    if settings.blob_store == "s3":
        return S3BlobStore(conn, _client(s3_config(settings)), settings.s3_prefix, settings.blob_chunk_bytes)
    return PostgresBlobStore(conn, settings.blob_chunk_bytes, writes)


def check_blob_settings(settings: CommonSettings) -> None:
    """Raises ValueError when the chosen store cannot work (an S3 store without keys)."""
    if settings.blob_store == "s3":
        s3_config(settings)


async def object_store_reachable(settings: CommonSettings) -> bool | None:
    """Whether the S3 bucket answers (None when blobs are in PostgreSQL: nothing more to reach)."""
    if settings.blob_store != "s3":
        return None
    return await _client(s3_config(settings)).bucket_reachable()
