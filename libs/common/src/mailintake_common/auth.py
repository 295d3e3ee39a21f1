"""API keys: stored hashed in PostgreSQL, checked by every service (SPEC 3).

Keys are 32 random bytes, so a single SHA-256 is enough to store them safely (no password
stretching needed for high-entropy secrets) and lets every request look a key up by hash.
A key weaker than that is refused, at start-up (the bootstrap key) as at creation.

Every service checks keys itself against the shared `api_keys` table, through a cache that
lives `MAILINTAKE_KEY_CACHE_TTL_S` (default 1 s): a revoked key stops working on every service
within that time. The dashboard's session cookie names a key in the same table, so revoking
the key ends its sessions too.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import string
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.domain_errors import Invalid
from mailintake_common.errors import ApiError
from mailintake_common.tables import api_key_sessions, api_keys

# ops:write: an officer acting on routed work (SPEC 3); it implies neither admin nor any racs level.
SCOPES = ("intake:write", "ops:read", "ops:write", "admin", "racs:1", "racs:2", "racs:3")
BOOTSTRAP_KEY_ID = "bootstrap-admin"
SESSION_COOKIE = "mailintake_session"
# 32 random bytes: what `new_key` makes and the least any key may carry.
MIN_KEY_BITS = 256
# Methods a session cookie may authenticate: reading only, so a forged cross-site form can change nothing.
COOKIE_METHODS = frozenset({"GET", "HEAD"})


class WeakKey(Invalid):
    """A key with less than 32 random bytes in it."""


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]

    @property
    def racs_level(self) -> int:
        """racs:N grants levels up to N."""
        levels = [int(s.split(":")[1]) for s in self.scopes if s.startswith("racs:")]
        return max(levels, default=0)

    def can_see(self, racs_level: int) -> bool:
        return racs_level <= 0 or self.racs_level >= racs_level

    def holds(self, scope: str) -> bool:
        return scope in self.scopes or _implied(scope, self.scopes)

    @property
    def actor(self) -> str:
        """Who did it, as every action on a document's timeline says (SPEC 3): the key's name and id."""
        return f"{self.name} (key {self.key_id})"


def key_strength_problem(key: str) -> str | None:
    """Why `key` holds less than 32 random bytes, or None when it may be used.

    A string's randomness cannot be measured, only bounded: each character carries at most
    log2 of the alphabet it is drawn from (digits, hex, base64), and a key of few distinct
    characters, or one that repeats a stretch of itself, is a pattern, not random bytes.
    """
    if len(set(key)) < 12:
        return "it repeats too few different characters to be random"
    grams = [key[i : i + 4] for i in range(len(key) - 3)]
    if len(set(grams)) < 0.9 * len(grams):
        return "it repeats a pattern, so it is not random"
    bits = len(key) * _bits_per_character(key)
    if bits < MIN_KEY_BITS:
        return (
            f"it holds at most {int(bits)} random bits; a key needs {MIN_KEY_BITS} "
            "(32 random bytes: 43 base64 characters or 64 hex digits)"
        )
    return None


def check_key_strength(key: str, what: str = "the key") -> None:
    problem = key_strength_problem(key)
    if problem is not None:
        raise WeakKey("weak_key", f"{what} is refused: {problem}")


def _bits_per_character(key: str) -> float:
    if key.isdigit():
        return math.log2(10)
    if all(c in string.hexdigits for c in key):
        return 4.0
    if all(c in string.ascii_lowercase + string.digits for c in key):
        return math.log2(36)
    return 6.0  # base64 and URL-safe base64, the usual generators' alphabets


def scopes_not_held(held: frozenset[str], requested: Iterable[str]) -> list[str]:
    """A key can only grant scopes it holds itself (SPEC 3): the requested ones it does not."""
    return sorted(s for s in set(requested) if s not in held and not _implied(s, held))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "mik_" + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return "mis_" + secrets.token_urlsafe(32)


class KeyCache:
    """Remembers looked-up keys (and sessions) for `ttl_s` so every request does not hit the database.

    The TTL bounds how long a revoked key keeps working on a service that had it cached. Requests
    that miss on the same key at the same moment share one look-up (a burst costs one query, not
    one per request). A look-up that finds a key last stamped over a minute ago stamps
    `last_used_at`.
    """

    def __init__(self, ttl_s: float = 1.0) -> None:
        self._ttl = ttl_s
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._inflight: dict[str, asyncio.Lock] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def lookup(self, engine: AsyncEngine, key: str) -> Principal | None:
        digest = hash_key(key)
        found, principal = self._fresh("k:" + digest)  # the usual case: no query is even built
        if found:
            return principal
        return await self._cached("k:" + digest, engine, api_keys.c.key_hash == digest, join_sessions=False)

    async def lookup_session(self, engine: AsyncEngine, token: str) -> Principal | None:
        digest = hash_key(token)
        found, principal = self._fresh("s:" + digest)
        if found:
            return principal
        live = and_(api_key_sessions.c.session_hash == digest, api_key_sessions.c.expires_at > func.now())
        return await self._cached("s:" + digest, engine, live, join_sessions=True)

    def _fresh(self, slot: str) -> tuple[bool, Principal | None]:
        hit = self._entries.get(slot)
        if hit and time.monotonic() - hit[0] < self._ttl:
            return True, hit[1]
        return False, None

    async def _cached(self, slot: str, engine: AsyncEngine, where: Any, join_sessions: bool) -> Principal | None:
        found, principal = self._fresh(slot)
        if found:
            return principal
        if len(self._inflight) > 10_000:
            self._inflight.clear()
        async with self._inflight.setdefault(slot, asyncio.Lock()):
            found, principal = self._fresh(slot)  # another request looked it up while this one waited
            if found:
                return principal
            principal = await self._load(engine, where, join_sessions)
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[slot] = (time.monotonic(), principal)
            return principal

    async def _load(self, engine: AsyncEngine, where: Any, join_sessions: bool) -> Principal | None:
        source = api_keys.join(api_key_sessions) if join_sessions else api_keys
        stale = or_(
            api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < func.now() - text("interval '1 minute'")
        )
        query = (
            select(api_keys.c.key_id, api_keys.c.name, api_keys.c.scopes, stale.label("stale"))
            .select_from(source)
            .where(where, api_keys.c.revoked_at.is_(None))
        )
        async with engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            if row.stale:
                await conn.execute(
                    api_keys.update().where(api_keys.c.key_id == row.key_id, stale).values(last_used_at=func.now())
                )
                await conn.commit()
        return Principal(row.key_id, row.name, frozenset(row.scopes))


async def authenticate(
    engine: AsyncEngine, cache: KeyCache, method: str, api_key: str | None, session: str | None
) -> Principal | None:
    """The caller's key: `X-API-Key`, else (for reading only) the dashboard's session cookie."""
    if api_key:
        return await cache.lookup(engine, api_key)
    if session and method in COOKIE_METHODS:
        return await cache.lookup_session(engine, session)
    return None


def require_scope(scope: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency: the caller's key must exist (401) and hold `scope` (403).

    The request gate (web.py) has usually checked this already, before the body was read, and
    left the principal in the request state; the check here stays for any route it did not see.
    """

    async def dependency(request: Request) -> Principal:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is None:
            principal = await authenticate(
                request.app.state.engine,
                request.app.state.key_cache,
                request.method,
                request.headers.get("x-api-key"),
                request.cookies.get(SESSION_COOKIE),
            )
        if principal is None:
            raise ApiError(401, "unauthorized", "missing or unknown API key")
        if not principal.holds(scope):
            raise ApiError(403, "forbidden", f"this key lacks the scope {scope}")
        return principal

    dependency.required_scope = scope  # type: ignore[attr-defined]  # read by the request gate
    return dependency


def _implied(scope: str, held: frozenset[str]) -> bool:
    if scope.startswith("racs:"):
        wanted = int(scope.split(":")[1])
        return any(s.startswith("racs:") and int(s.split(":")[1]) >= wanted for s in held)
    return False
