"""With blobs in S3, intake accepts nothing it could lose: while the bucket cannot be reached a
submission gets 503 and leaves no document behind (SPEC 3 says so of PostgreSQL; issue 17)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.factories.documents import page_image
from tests.support.api import client
from tests.support.stack import Infra, make_service, start_object_store


@pytest.mark.slow
async def test_intake_answers_503_and_stores_nothing_while_the_object_store_is_down(
    infra: Infra, tmp_path: Path
) -> None:
    server, blob_settings = start_object_store(tmp_path)
    blob_env = {f"MAILINTAKE_{name.upper()}": value for name, value in blob_settings.items()}
    intake = make_service(infra, "intake", tmp_path, {**blob_env, "MAILINTAKE_S3_TIMEOUT_S": "2"})
    intake.start()
    scan = [("file", ("reply-slip.png", page_image("Reply slip: I agree to the arrangement"), "image/png"))]
    try:
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
    finally:
        intake.stop()
        server.stop()
