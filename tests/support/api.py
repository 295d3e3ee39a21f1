"""HTTP helpers for tests: clients with keys, and waiting for a document to reach a status."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.support.stack import ADMIN_KEY


def client(base_url: str, key: str | None = ADMIN_KEY, timeout_s: float = 30.0) -> httpx.AsyncClient:
    headers = {"X-API-Key": key} if key else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout_s)


async def create_key(intake_url: str, scopes: list[str], name: str = "test key") -> str:
    async with client(intake_url) as admin:
        response = await admin.post("/v1/admin/api-keys", json={"name": name, "scopes": scopes})
        response.raise_for_status()
        return str(response.json()["key"])


async def wait_for_status(
    http: httpx.AsyncClient, document_id: str, statuses: set[str], timeout_s: float = 60.0
) -> dict[str, Any]:
    """Poll `GET /v1/documents/{id}` until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            response = await http.get(f"/v1/documents/{document_id}")
        except httpx.RemoteProtocolError:  # a kept-alive connection the server closed as we sent: ask again
            await asyncio.sleep(0.2)
            continue
        if response.status_code == 200:
            last = response.json()
            if last["status"] in statuses:
                return last
        await asyncio.sleep(0.2)
    raise TimeoutError(f"document {document_id} stayed {last.get('status')!r}; timeline {last.get('timeline')}")
