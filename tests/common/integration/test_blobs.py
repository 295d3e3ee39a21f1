"""Both blob stores keep one promise: the same bytes are stored once, under their sha256.

Every test runs against PostgreSQL (content in the row) and against a real S3 server
(SeaweedFS, content in the bucket, PostgreSQL keeping only the metadata row).
"""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import blob_links
from mailintake_common.blobs import BlobNotFound, S3BlobStore, blob_store, prefetched, reader
from mailintake_common.db import make_engine, unit_of_work
from mailintake_common.settings import CommonSettings, MiB
from mailintake_common.tables import document_blobs
from tests.support.stack import Infra


@pytest.fixture(params=["postgres", "s3"])
def settings(request: pytest.FixtureRequest, infra: Infra) -> CommonSettings:
    blob = request.getfixturevalue("object_store") if request.param == "s3" else {"blob_store": "postgres"}
    return CommonSettings.model_validate({"database_url": infra.database_url, **blob, "blob_chunk_bytes": 64 * 1024})


def unique(label: str, size: int = 0) -> bytes:
    """Content no other test stored (the stores are content-addressed and shared by the session)."""
    return f"{label} {os.urandom(8).hex()}\n".encode() + os.urandom(size)


async def test_same_content_is_stored_once_and_read_back_by_reference(
    engine: AsyncEngine, settings: CommonSettings
) -> None:
    content = b"%PDF-1.7 a letter from an employer " + unique("pdf")
    async with engine.begin() as conn:
        first = await blob_store(conn, settings).put(content, "application/pdf")
        second = await blob_store(conn, settings).put(content, "application/pdf")
    assert first == second
    assert first.sha256 == hashlib.sha256(content).hexdigest() and first.size == len(content)
    async with engine.connect() as conn:
        store = blob_store(conn, settings)
        assert await store.get(first) == content
        assert await store.get(first.sha256) == content
        assert await store.exists(first)


async def test_a_reader_checks_out_no_connection_for_content_the_check_in_brought(
    engine: AsyncEngine, settings: CommonSettings
) -> None:
    """Issue 18: a handler whose event's check-in brought its blobs reads them without a connection."""
    brought, other = unique("brought"), unique("not brought")
    async with engine.begin() as conn:
        first = await blob_store(conn, settings).put(brought)
        second = await blob_store(conn, settings).put(other)
    checkouts: list[object] = []

    def checked_out(*_: object) -> None:
        checkouts.append(1)

    event.listen(engine.sync_engine.pool, "checkout", checked_out)
    try:
        with prefetched({first.sha256: brought}):
            async with reader(engine) as store:
                assert await store.get(first) == brought
                assert b"".join([chunk async for chunk in store.stream(first)]) == brought
            assert checkouts == []
            async with reader(engine) as store:  # one connection for what the check-in did not bring
                assert await store.get(second) == other
                assert b"".join([chunk async for chunk in store.stream(second)]) == other
                with pytest.raises(BlobNotFound):
                    await store.get("0" * 64)
                assert await store.get(first) == brought
            assert len(checkouts) == 1
    finally:
        event.remove(engine.sync_engine.pool, "checkout", checked_out)


async def test_a_missing_blob_is_not_found_by_get_stream_or_exists(
    engine: AsyncEngine, settings: CommonSettings
) -> None:
    async with engine.connect() as conn:
        store = blob_store(conn, settings)
        assert not await store.exists("0" * 64)
        with pytest.raises(BlobNotFound):
            await store.get("0" * 64)
        with pytest.raises(BlobNotFound):
            async for _ in store.stream("0" * 64):
                pass


async def test_a_file_goes_in_and_comes_back_a_chunk_at_a_time(engine: AsyncEngine, settings: CommonSettings) -> None:
    content = unique("scan", 300 * 1024)  # several 64 KiB chunks and a short last one
    async with engine.begin() as conn:
        ref = await blob_store(conn, settings).put_file(io.BytesIO(content), "image/tiff")
    assert ref.sha256 == hashlib.sha256(content).hexdigest() and ref.size == len(content)
    async with engine.connect() as conn:
        chunks = [chunk async for chunk in blob_store(conn, settings).stream(ref)]
    assert len(chunks) >= 5 and max(len(c) for c in chunks) <= 64 * 1024
    assert b"".join(chunks) == content


async def test_nothing_is_named_after_a_rollback(engine: AsyncEngine, settings: CommonSettings) -> None:
    content = unique("rolled back")
    with pytest.raises(RuntimeError):
        async with unit_of_work(engine) as uow:
            ref = await uow.blobs.put(content, "text/plain")
            raise RuntimeError("the document was not stored")
    async with engine.connect() as conn:
        assert not await blob_store(conn, settings).exists(ref)


async def test_the_s3_store_keeps_only_metadata_and_uploads_before_the_commit(
    infra: Infra, object_store: dict[str, str]
) -> None:
    settings = CommonSettings.model_validate({"database_url": infra.database_url, **object_store})
    engine = make_engine(settings)
    content = unique("a court registry's sealed order", 4096)
    try:
        async with unit_of_work(engine) as uow:
            ref = await uow.blobs.put(content, "application/pdf")
            store = uow.blobs
            assert isinstance(store, S3BlobStore)
            # Still inside the transaction: the object is already in the bucket.
            assert await store._client.head(store.key(ref))
        async with engine.connect() as conn:
            from mailintake_common.tables import blobs

            row = (await conn.execute(select(blobs).where(blobs.c.sha256 == ref.sha256))).one()
        assert row.content is None and row.size == len(content) and row.media_type == "application/pdf"
    finally:
        await engine.dispose()


async def test_the_s3_store_reads_content_written_to_postgresql_before_the_switch(
    infra: Infra, object_store: dict[str, str]
) -> None:
    engine = make_engine(CommonSettings(database_url=infra.database_url))
    content = unique("stored before object storage was turned on")
    s3 = CommonSettings.model_validate({"database_url": infra.database_url, **object_store})
    try:
        async with engine.begin() as conn:
            ref = await blob_store(conn, CommonSettings(blob_store="postgres")).put(content, "text/plain")
        async with engine.connect() as conn:
            store = blob_store(conn, s3)
            assert isinstance(store, S3BlobStore)
            assert await store.exists(ref) and await store.get(ref) == content
    finally:
        await engine.dispose()


async def test_a_50_mb_scan_streams_through_the_s3_store_without_being_held_whole(
    infra: Infra, object_store: dict[str, str], tmp_path: Path
) -> None:
    """Up and down a chunk at a time: Python never holds more than a few chunks of it."""
    settings = CommonSettings.model_validate({"database_url": infra.database_url, **object_store})
    path, written = tmp_path / "batch.tif", hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(50):
            chunk = os.urandom(MiB)
            written.update(chunk)
            out.write(chunk)
    engine = make_engine(settings)
    tracemalloc.start()
    try:
        async with unit_of_work(engine) as uow:
            with path.open("rb") as scan:
                ref = await uow.blobs.put_file(scan, "image/tiff")
        read, size = hashlib.sha256(), 0
        async with engine.connect() as conn:
            async for chunk in blob_store(conn).stream(ref):
                read.update(chunk)
                size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await engine.dispose()
    assert ref.sha256 == written.hexdigest() == read.hexdigest() and ref.size == size == 50 * MiB
    assert peak < 10 * MiB, f"peak {peak / MiB:.1f} MiB traced while streaming 50 MiB"


async def test_a_blob_a_document_names_is_kept_and_one_nobody_names_is_deleted_with_its_content(
    engine: AsyncEngine, settings: CommonSettings
) -> None:
    content = unique("a payslip nobody needs any more")
    document_id = uuid.uuid4().hex
    async with unit_of_work(engine) as uow:
        ref = await uow.blobs.put(content, "application/pdf")
        await uow.documents.create(document_id, channel="email", received_at=datetime.now(UTC))
        await blob_links.link(uow.conn, document_id, [ref.sha256])
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await blob_store(conn, settings).delete(ref)
    async with engine.begin() as conn:
        assert await blob_store(conn, settings).get(ref) == content
        await conn.execute(delete(document_blobs).where(document_blobs.c.document_id == document_id))
        assert await blob_store(conn, settings).delete(ref)
        assert not await blob_store(conn, settings).delete(ref)
    async with engine.connect() as conn:
        store = blob_store(conn, settings)
        assert not await store.exists(ref)
        if isinstance(store, S3BlobStore):  # the object is gone too, not only its row
            assert not await store._client.head(store.key(ref))


async def test_content_kept_in_postgresql_is_compressed_with_lz4_where_the_server_has_it(infra: Infra) -> None:
    """Issue 18, session 8 (common_0010): for a 5 KB letter lz4 costs PostgreSQL about a quarter
    of pglz's CPU, for the same size on disk."""
    paragraph = (
        "I am writing again about the payments for our two boys. Since I started the new job at the "
        "warehouse my hours go up and down each week, so some fortnights I earn more and some less. "
    )
    letter = "".join(f"{n}. {paragraph}" for n in range(40)).encode() + unique("letter")
    engine = make_engine(CommonSettings(database_url=infra.database_url, blob_store="postgres"))
    try:
        async with engine.begin() as conn:
            ref = await blob_store(conn).put(letter, "text/plain")
        async with engine.connect() as conn:
            has_lz4 = await conn.scalar(
                text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
            )
            method = await conn.scalar(
                text("SELECT pg_column_compression(content) FROM blobs WHERE sha256 = :s"), {"s": ref.sha256}
            )
            assert await blob_store(conn).get(ref) == letter
    finally:
        await engine.dispose()
    assert has_lz4  # the development machine's PostgreSQL has it
    assert method == "lz4"
