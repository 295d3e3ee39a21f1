"""Intake with its blobs in S3 (issue 17), on a private PostgreSQL, broker and SeaweedFS server
(no other service reads what these tests store):

- a large scan streams from the spooled upload to the bucket, never whole in intake's memory;
- while the bucket cannot be reached a submission gets 503 and leaves no document behind, as
  SPEC 3 asks of intake when PostgreSQL is down.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailintake_common.blobs import blob_store
from mailintake_common.db import make_engine
from mailintake_common.devstack import SeaweedS3
from mailintake_common.settings import CommonSettings
from tests.factories.documents import page_image
from tests.support.api import client
from tests.support.stack import Infra, Service, make_service, start_object_store

MiB = 1024 * 1024


@dataclass
class OnS3:
    intake: Service
    server: SeaweedS3
    settings: CommonSettings  # what intake runs with: the private database and bucket


@pytest.fixture
def on_s3(fresh_infra: Infra, tmp_path: Path) -> Iterator[OnS3]:
    server, blob_settings = start_object_store(tmp_path)
    fresh_infra.blob_settings = blob_settings
    intake = make_service(fresh_infra, "intake", tmp_path, {"MAILINTAKE_S3_TIMEOUT_S": "2"})
    try:
        intake.start()
        yield OnS3(intake, server, fresh_infra.settings())
    finally:
        intake.stop()
        server.stop()


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.mark.slow
async def test_a_50_mb_scan_streams_to_the_bucket_without_being_held_whole(on_s3: OnS3) -> None:
    intake = on_s3.intake
    assert intake.proc is not None
    scan = b"II*\x00" + os.urandom(50 * MiB)  # a TIFF by its signature; intake reads no further
    async with client(intake.base_url, timeout_s=120) as http:
        warm = await http.post("/v1/scans", files=[("file", ("slip.png", page_image("Reply slip"), "image/png"))])
        assert warm.status_code == 202
        before = peak_rss(intake.proc.pid)
        response = await http.post("/v1/scans", files=[("file", ("batch-0042.tif", scan, "image/tiff"))])
        assert response.status_code == 202, response.text
        grown = peak_rss(intake.proc.pid) - before
    assert grown < 25 * MiB, f"intake's peak memory grew {grown / MiB:.0f} MiB for a 50 MiB scan"
    engine = make_engine(on_s3.settings)
    try:
        async with engine.connect() as conn:
            digest = hashlib.sha256()
            async for chunk in blob_store(conn).stream(hashlib.sha256(scan).hexdigest()):
                digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(scan).hexdigest()
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_intake_answers_503_and_stores_nothing_while_the_object_store_is_down(
    on_s3: OnS3,
) -> None:
    intake, server = on_s3.intake, on_s3.server
    scan = [("file", ("reply-slip.png", page_image("Reply slip: I agree to the arrangement"), "image/png"))]
    async with client(intake.base_url) as http:
        assert (await http.post("/v1/scans", files=scan)).status_code == 202
        server.stop()
        down = await http.post("/v1/scans", files=scan, headers={"Idempotency-Key": "slip-17"})
        assert down.status_code == 503, down.text
        assert down.json()["error"] == "unavailable"
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["object_store"] is False

        server.start()  # same port and data: the bucket is back
        deadline, again = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            again = await http.post("/v1/scans", files=scan, headers={"Idempotency-Key": "slip-17"})
            if again.status_code != 503:
                break
            await asyncio.sleep(0.5)
        assert again is not None and again.status_code == 202, "the refused scan left a document behind"
