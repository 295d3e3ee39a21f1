"""Large parts reach worker processes as private files, and the files never outlive the item
(issue 17). Every test runs against both blob stores: PostgreSQL, and a real S3 server
(SeaweedFS) holding the content while PostgreSQL keeps the metadata row."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import stat
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.blobs import blob_store
from mailintake_common.events import BlobRef
from mailintake_common.settings import CommonSettings, MiB
from mailintake_common.spool import PREFIX, PartContent, SpoolPlan, spool, sweep_spools
from mailintake_common.workers import SupervisedPool, WorkerCrashed
from tests.support.stack import Infra


@pytest.fixture(params=["postgres", "s3"])
def settings(request: pytest.FixtureRequest, infra: Infra, tmp_path: Path) -> CommonSettings:
    blob = request.getfixturevalue("object_store") if request.param == "s3" else {"blob_store": "postgres"}
    return CommonSettings.model_validate(
        {
            "database_url": infra.database_url,
            **blob,
            "blob_chunk_bytes": 256 * 1024,
            "part_spool_bytes": 1 * MiB,
            "part_spool_dir": str(tmp_path / "spool"),
        }
    )


async def stored(engine: AsyncEngine, settings: CommonSettings, content: bytes, media_type: str) -> BlobRef:
    async with engine.begin() as conn:
        return await blob_store(conn, settings).put_file(io.BytesIO(content), media_type)


def leftovers(settings: CommonSettings) -> list[Path]:
    assert settings.part_spool_dir is not None
    return sorted(Path(settings.part_spool_dir).rglob("*"))


# Tasks for the worker processes: module-level so they pickle by reference.
def digest_of(content: PartContent) -> str:
    return hashlib.sha256(content.read()).hexdigest()


def read_a_little_then_die(content: PartContent) -> None:
    assert content.path is not None
    with open(content.path, "rb") as file:
        file.read(4096)
    os.kill(os.getpid(), signal.SIGKILL)


def hand_back(data: bytes, plan: SpoolPlan) -> PartContent:
    return plan.keep(data, "cleared-0")


async def test_a_small_part_stays_in_memory_and_a_large_one_is_a_private_file_gone_afterwards(
    engine: AsyncEngine, settings: CommonSettings
) -> None:
    note = b"Please call me about the payment arrangement. " + os.urandom(16)
    scan = b"%PDF-1.4 employer's wage statement " + os.urandom(3 * MiB)
    note_ref = await stored(engine, settings, note, "text/plain")
    scan_ref = await stored(engine, settings, scan, "application/pdf")
    async with spool(settings) as parts, engine.connect() as conn:
        store = blob_store(conn, settings)
        small = await parts.fetch(store, note_ref)
        large = await parts.fetch(store, scan_ref)
        assert small.data == note and small.path is None
        assert large.data is None and large.path is not None and large.size == len(scan)
        assert Path(large.path).read_bytes() == scan
        file_mode, dir_mode = os.stat(large.path).st_mode, os.stat(parts.directory).st_mode
        assert stat.S_IMODE(file_mode) == 0o600 and stat.S_IMODE(dir_mode) == 0o700
        assert Path(parts.directory).parent == Path(settings.part_spool_dir or "")
    assert leftovers(settings) == []


async def test_the_files_are_removed_when_the_item_fails_or_is_cancelled(
    engine: AsyncEngine, settings: CommonSettings
) -> None:
    scan_ref = await stored(engine, settings, os.urandom(2 * MiB), "image/tiff")

    async def fetch_then(outcome: asyncio.Event | None) -> None:
        async with spool(settings) as parts, engine.connect() as conn:
            await parts.fetch(blob_store(conn, settings), scan_ref)
            assert len(leftovers(settings)) == 2  # the spool and its file
            if outcome is None:
                raise RuntimeError("the handler failed after reading the part")
            outcome.set()
            await asyncio.sleep(3600)  # cancelled here

    with pytest.raises(RuntimeError):
        await fetch_then(None)
    assert leftovers(settings) == []
    fetched = asyncio.Event()
    task = asyncio.create_task(fetch_then(fetched))
    await fetched.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(settings) == []


async def test_a_worker_reads_the_file_and_a_worker_killed_mid_part_leaves_nothing_behind(
    engine: AsyncEngine, settings: CommonSettings
) -> None:
    scan = os.urandom(5 * MiB)
    scan_ref = await stored(engine, settings, scan, "image/tiff")
    pool = SupervisedPool("test", 1, 512 * MiB)
    try:
        async with spool(settings) as parts, engine.connect() as conn:
            content = await parts.fetch(blob_store(conn, settings), scan_ref)
            assert await pool.run(digest_of, content, timeout_s=60) == scan_ref.sha256
        assert leftovers(settings) == []
        with pytest.raises(WorkerCrashed):
            async with spool(settings) as parts, engine.connect() as conn:
                content = await parts.fetch(blob_store(conn, settings), scan_ref)
                await pool.run(read_a_little_then_die, content, timeout_s=60)
        assert leftovers(settings) == []
    finally:
        pool.close()


async def test_a_worker_hands_large_content_back_as_a_file_of_the_spool(settings: CommonSettings) -> None:
    member = b"statement of earnings\n" * 100_000  # 2.2 MB decoded out of an archive, say
    pool = SupervisedPool("test", 1, 512 * MiB)
    try:
        async with spool(settings) as parts:
            small = await pool.run(hand_back, b"a short note", parts.plan, timeout_s=60)
            large = await pool.run(hand_back, member, parts.plan, timeout_s=60)
            assert small == PartContent.of(b"a short note")
            assert large.path is not None and Path(large.path).parent == Path(parts.directory)
            assert stat.S_IMODE(os.stat(large.path).st_mode) == 0o600 and large.read() == member
        assert leftovers(settings) == []
    finally:
        pool.close()


async def test_a_large_part_is_never_whole_in_the_service(engine: AsyncEngine, settings: CommonSettings) -> None:
    scan = os.urandom(24 * MiB)
    scan_ref = await stored(engine, settings, scan, "image/tiff")
    tracemalloc.start()
    try:
        async with spool(settings) as parts, engine.connect() as conn:
            content = await parts.fetch(blob_store(conn, settings), scan_ref)
            _, peak = tracemalloc.get_traced_memory()
            assert content.path is not None and os.path.getsize(content.path) == len(scan)
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB traced while spooling a 24 MiB part"


def test_spools_of_processes_that_are_gone_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    settings = CommonSettings(part_spool_dir=str(tmp_path))
    gone = tmp_path / f"{PREFIX}{2**22 + 12345}-abc"  # above the default pid_max: no such process
    live = tmp_path / f"{PREFIX}{os.getpid()}-def"
    unrelated = tmp_path / "someone-elses-dir"
    for directory in (gone, live, unrelated):
        directory.mkdir(mode=0o700)
        (directory / "part-1").write_bytes(b"scan")
    assert sweep_spools(settings) == 1
    assert not gone.exists() and live.exists() and unrelated.exists()


def test_a_spool_directory_someone_else_can_read_is_refused(tmp_path: Path) -> None:
    planted = tmp_path / "spool"
    planted.mkdir(mode=0o755)
    os.chmod(planted, 0o755)
    with pytest.raises(PermissionError):
        SpoolPlan(str(planted), 0).keep(b"cleared content", "cleared-0")
