"""API keys: only scopes the creator holds, listed without secrets, recorded, revoked everywhere (issue 15)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.auth import BOOTSTRAP_KEY_ID, hash_key
from mailintake_common.tables import api_keys
from tests.support.api import client, create_key
from tests.support.stack import Infra, Service, make_service


def _name(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:8]}"


async def _row(infra: Infra, name: str) -> dict:
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.name == name))).mappings().one()
        return dict(row)
    finally:
        await engine.dispose()


async def test_a_key_can_only_grant_scopes_it_holds(stack: dict[str, Service]) -> None:
    intake = stack["intake"].base_url
    keeper = await create_key(intake, ["admin", "ops:read", "racs:2"], name=_name("key keeper"))
    async with client(intake, keeper) as http:
        more = await http.post("/v1/admin/api-keys", json={"name": _name("x"), "scopes": ["ops:read", "intake:write"]})
        assert more.status_code == 403 and more.json()["error"] == "scope_not_held"
        assert "intake:write" in more.json()["detail"]
        higher = await http.post("/v1/admin/api-keys", json={"name": _name("x"), "scopes": ["racs:3"]})
        assert higher.status_code == 403
        lower = await http.post("/v1/admin/api-keys", json={"name": _name("x"), "scopes": ["ops:read", "racs:1"]})
        assert lower.status_code == 201  # racs:2 grants levels up to 2, so racs:1 is held


async def test_keys_are_listed_without_the_key_or_its_hash(stack: dict[str, Service]) -> None:
    intake = stack["intake"].base_url
    name = _name("list me")
    key = await create_key(intake, ["ops:read"], name=name)
    async with client(intake) as admin:
        before = (await admin.get("/v1/admin/api-keys")).json()
        mine = next(k for k in before if k["name"] == name)
        assert mine["scopes"] == ["ops:read"] and mine["created_at"] and mine["last_used_at"] is None
        assert mine["created_by"] == "bootstrap admin"
        async with client(intake, key) as reader:
            assert (await reader.get("/v1/documents/nothing-here")).status_code == 404
        after = await admin.get("/v1/admin/api-keys")
        assert next(k for k in after.json() if k["name"] == name)["last_used_at"] is not None
        assert key not in after.text and hash_key(key) not in after.text
        assert "key_hash" not in after.text and '"key"' not in after.text
        async with client(intake, key) as reader:
            assert (await reader.get("/v1/admin/api-keys")).status_code == 403


async def test_a_revoked_key_stops_working_on_every_service_within_seconds(
    stack: dict[str, Service], infra: Infra
) -> None:
    intake = stack["intake"].base_url
    name = _name("leaving officer")
    key = await create_key(intake, ["ops:read"], name=name)
    # A request each other service answers while it takes the key: 200, or 403 where the route is
    # admin's (the classifier's only routes); 401 once the key is revoked.
    elsewhere = {"routing": ("/v1/queues", 200), "quarantine": ("/v1/quarantine", 200), "classifier": ("/v1/dlq", 403)}
    async with client(intake, key) as on_intake, httpx.AsyncClient(headers={"X-API-Key": key}) as http:
        for service, (path, taken) in elsewhere.items():  # cached on each service now
            assert (await http.get(stack[service].base_url + path)).status_code == taken, service
        assert (await on_intake.get("/v1/documents/nothing-here")).status_code == 404
        async with client(intake) as admin:
            revoked = await admin.delete(f"/v1/admin/api-keys/{name}")
            assert revoked.status_code == 200 and revoked.json() == {"name": name, "revoked": 1}
            started = time.monotonic()
            assert (await on_intake.get("/v1/documents/nothing-here")).status_code == 401  # at once where revoked
            for service, (path, _) in elsewhere.items():
                while (await http.get(stack[service].base_url + path)).status_code != 401:
                    assert time.monotonic() - started < 5, f"{service} still takes a revoked key"
                    await asyncio.sleep(0.1)
            assert (await admin.delete(f"/v1/admin/api-keys/{name}")).status_code == 404  # nothing active left
            listed = (await admin.get("/v1/admin/api-keys")).json()
            assert name not in [k["name"] for k in listed]
            history = (await admin.get("/v1/admin/api-keys", params={"include_revoked": "true"})).json()
            gone = next(k for k in history if k["name"] == name)
            assert gone["revoked_at"] and gone["revoked_by"] == "bootstrap admin"
    row = await _row(infra, name)
    assert row["created_by"] == BOOTSTRAP_KEY_ID and row["revoked_by"] == BOOTSTRAP_KEY_ID
    for service in stack.values():  # recorded by id, never the secret
        assert key not in service.log_path.read_text()


async def test_created_keys_carry_32_random_bytes(stack: dict[str, Service]) -> None:
    from mailintake_common.auth import key_strength_problem

    keys = [await create_key(stack["intake"].base_url, ["ops:read"], name=_name("strong")) for _ in range(3)]
    assert len(set(keys)) == 3
    assert all(key_strength_problem(k) is None and len(k) >= 43 for k in keys)


def test_a_weak_bootstrap_key_stops_the_service_at_start_up(infra: Infra, tmp_path: Path) -> None:
    weak = "letmein-admin-2024"
    service = make_service(infra, "intake", tmp_path, {"MAILINTAKE_BOOTSTRAP_ADMIN_KEY": weak})
    service.start(wait_ready=False)
    assert service.proc is not None
    try:
        code = service.proc.wait(60)
    finally:
        service.kill()
    assert code != 0
    log = service.log_path.read_text()
    assert "MAILINTAKE_BOOTSTRAP_ADMIN_KEY is refused" in log and weak not in log
    try:
        httpx.get(f"{service.base_url}/healthz", timeout=2)
        raise AssertionError("a service with a weak bootstrap key answered")
    except httpx.TransportError:
        pass
