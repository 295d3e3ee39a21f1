"""Issue 17, end to end: blob content lives where the services' settings say, and the pipeline
reads it from there. `make test` runs this suite twice: with blobs in PostgreSQL, then with
every service on a SeaweedFS S3 bucket (`MAILINTAKE_TEST_BLOB_STORE=s3`)."""

from __future__ import annotations

import hashlib
import io

import httpx
from PIL import Image, ImageDraw
from sqlalchemy import select

from mailintake_common.blobs import blob_store
from mailintake_common.db import make_engine
from mailintake_common.tables import blobs
from tests.factories.documents import email_bytes
from tests.support.api import client, wait_for_status
from tests.support.stack import S3_SECRET_ACCESS_KEY, Infra, Service

LETTER = [
    "To whom it may concern,",
    "I have started a new job at the hospital kitchen from 4 November",
    "and my hours have gone up, so my income is different now.",
    "Please update my child support assessment. Regards, Sam",
]


def scanned_letter(pages: int = 3) -> bytes:
    """An uncompressed multi-page TIFF of a few MB: past the 1 MiB the upload parser keeps in memory."""
    frames = []
    for number in range(1, pages + 1):
        frame = Image.new("L", (1240, 1754), 255)
        draw = ImageDraw.Draw(frame)
        for row, line in enumerate(LETTER):
            draw.text((120, 160 + row * 40), line, fill=0)
        draw.text((120, 1650), f"page {number} of {pages}", fill=0)
        frames.append(frame)
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()


async def test_a_large_scan_and_an_email_are_stored_where_the_settings_say_and_read_from_there(
    stack: dict[str, Service], infra: Infra
) -> None:
    scan = scanned_letter()
    email = email_bytes(body="Hello, my address has changed to 4 Wattle Street. Thanks, Sam")
    assert len(scan) > 2 * 1024 * 1024
    async with client(stack["intake"].base_url) as http:
        scanned = await http.post("/v1/scans", files=[("file", ("letter.tif", scan, "image/tiff"))])
        emailed = await http.post("/v1/emails?mailbox=edc", content=email, headers={"Content-Type": "message/rfc822"})
        assert scanned.status_code == 202 and emailed.status_code == 202, (scanned.text, emailed.text)
        for response in (scanned, emailed):
            doc = await wait_for_status(http, response.json()["document_id"], {"routed", "failed"}, 180)
            assert doc["status"] == "routed", doc["timeline"]
            assert doc["classification"] is not None
    on_s3 = infra.blob_settings.get("blob_store") == "s3"
    engine = make_engine(infra.settings())
    try:
        async with engine.connect() as conn:
            store = blob_store(conn)
            for content in (scan, email):
                sha = hashlib.sha256(content).hexdigest()
                row = (await conn.execute(select(blobs).where(blobs.c.sha256 == sha))).one()
                assert row.size == len(content)
                assert (row.content is None) if on_s3 else (bytes(row.content) == content)
                assert await store.get(sha) == content
    finally:
        await engine.dispose()


async def test_every_service_is_ready_only_with_its_blob_store_and_never_logs_its_secret(
    stack: dict[str, Service], infra: Infra
) -> None:
    on_s3 = infra.blob_settings.get("blob_store") == "s3"
    async with httpx.AsyncClient(timeout=10) as http:
        for service in stack.values():
            body = (await http.get(f"{service.base_url}/readyz")).json()
            assert body["status"] == "ready"
            assert body.get("object_store") is (True if on_s3 else None)
            assert S3_SECRET_ACCESS_KEY not in service.log_path.read_text(errors="replace")
