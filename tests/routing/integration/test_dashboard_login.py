"""The dashboard never takes a key in its URL: a login form, an HttpOnly session cookie, a strict policy."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx

from tests.support.api import client, create_key
from tests.support.stack import ADMIN_KEY, Service

COOKIE = "mailintake_session"


async def _login(routing: str, key: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=routing) as http:
        return await http.post("/dashboard/login", data={"key": key}, headers=headers or {})


async def test_the_page_runs_no_inline_script_and_forbids_framing(stack: dict[str, Service]) -> None:
    async with httpx.AsyncClient(base_url=stack["routing"].base_url) as http:
        page = await http.get("/dashboard")
        script = await http.get("/dashboard/app.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)  # every script is a file
    assert not re.search(r"<[^>]+\son[a-z]+=", page.text)  # no inline event handlers
    assert "<style" not in page.text and 'method="post" action="/dashboard/login"' in page.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert "key=" not in script.text and "sessionStorage" not in script.text and "X-API-Key" not in script.text


async def test_a_key_in_the_url_opens_nothing(stack: dict[str, Service]) -> None:
    async with httpx.AsyncClient(base_url=stack["routing"].base_url) as http:
        page = await http.get("/dashboard", params={"key": ADMIN_KEY})
        assert ADMIN_KEY not in page.text and "set-cookie" not in page.headers
        assert (await http.get("/v1/dashboard/summary", params={"key": ADMIN_KEY})).status_code == 401


async def test_login_sets_a_strict_httponly_cookie_that_only_reads(stack: dict[str, Service]) -> None:
    routing = stack["routing"].base_url
    refused = await _login(routing, "not-a-key")
    assert refused.status_code == 303 and refused.headers["location"] == "/dashboard#refused"
    assert "set-cookie" not in refused.headers
    no_read = await create_key(stack["intake"].base_url, ["intake:write"], name=f"scanner {uuid.uuid4().hex[:6]}")
    assert "set-cookie" not in (await _login(routing, no_read)).headers  # needs ops:read

    answer = await _login(routing, ADMIN_KEY)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and ADMIN_KEY not in cookie
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags and "secure" not in flags  # plain http here
    secure = (await _login(routing, ADMIN_KEY, {"X-Forwarded-Proto": "https"})).headers["set-cookie"]
    assert "secure" in {part.strip().lower() for part in secure.split(";")}

    session = {COOKIE: answer.cookies[COOKIE]}
    async with httpx.AsyncClient(base_url=routing, cookies=session) as browser:
        assert (await browser.get("/v1/dashboard/summary")).status_code == 200
        # Reading only: a forged cross-site form riding the cookie could change nothing.
        reroute = await browser.post("/v1/queues/racs/items/x/reroute", json={"queue": "court", "reason": "r"})
        assert reroute.status_code == 401
        assert (await browser.post("/dashboard/logout")).status_code == 303
        stale = {"Cookie": f"{COOKIE}={session[COOKIE]}"}  # the old token, sent again by hand
        assert (await browser.get("/v1/dashboard/summary", headers=stale)).status_code == 401


async def test_revoking_the_key_ends_its_dashboard_sessions(stack: dict[str, Service]) -> None:
    intake, routing = stack["intake"].base_url, stack["routing"].base_url
    name = f"dashboard viewer {uuid.uuid4().hex[:6]}"
    key = await create_key(intake, ["ops:read"], name=name)
    session = {COOKIE: (await _login(routing, key)).cookies[COOKIE]}
    async with httpx.AsyncClient(base_url=routing, cookies=session) as browser:
        assert (await browser.get("/v1/dashboard/summary")).status_code == 200
        async with client(intake) as admin:
            assert (await admin.delete(f"/v1/admin/api-keys/{name}")).status_code == 200
        started = time.monotonic()
        while (await browser.get("/v1/dashboard/summary")).status_code == 200:
            assert time.monotonic() - started < 5, "the session outlived its key"
            await asyncio.sleep(0.1)
