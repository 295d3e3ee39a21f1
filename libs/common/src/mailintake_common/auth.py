"""API keys: stored hashed in PostgreSQL, checked by every service (SPEC 3).

Keys are 32 random bytes, so a single SHA-256 is enough to store them safely (no password
stretching needed for high-entropy secrets) and lets every request look a key up by hash.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common.errors import ApiError
from mailintake_common.tables import api_keys

# ops:write: an officer acting on routed work (SPEC 3); it implies neither admin nor any racs level.
SCOPES = ("intake:write", "ops:read", "ops:write", "admin", "racs:1", "racs:2", "racs:3")
BOOTSTRAP_KEY_ID = "bootstrap-admin"


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


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "mik_" + secrets.token_urlsafe(32)


async def create_key(conn: AsyncConnection, name: str, scopes: list[str], created_by: str | None) -> tuple[str, str]:
    """Store a new key; returns (key_id, key). The key itself is shown once and never stored."""
    key = new_key()
    key_id = secrets.token_hex(8)
    await conn.execute(
        api_keys.insert().values(
            key_id=key_id, key_hash=hash_key(key), name=name, scopes=sorted(set(scopes)), created_by=created_by
        )
    )
    return key_id, key


async def ensure_bootstrap_key(engine: AsyncEngine, key: str) -> None:
    async with engine.begin() as conn:
        stmt = insert(api_keys).values(
            key_id=BOOTSTRAP_KEY_ID, key_hash=hash_key(key), name="bootstrap admin", scopes=list(SCOPES)
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["key_id"], set_={"key_hash": stmt.excluded.key_hash, "scopes": stmt.excluded.scopes}
            )
        )


class KeyCache:
    """Remembers looked-up keys for a few seconds so every request does not hit the database."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self._ttl = ttl_s
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    async def lookup(self, engine: AsyncEngine, key: str) -> Principal | None:
        digest = hash_key(key)
        hit = self._entries.get(digest)
        now = time.monotonic()
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(api_keys.c.key_id, api_keys.c.name, api_keys.c.scopes).where(api_keys.c.key_hash == digest)
                )
            ).first()
        principal = Principal(row.key_id, row.name, frozenset(row.scopes)) if row else None
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (now, principal)
        return principal


def require_scope(scope: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency: the caller's key must exist (401) and hold `scope` (403)."""

    async def dependency(request: Request) -> Principal:
        key = request.headers.get("x-api-key")
        if not key:
            raise ApiError(401, "unauthorized", "missing X-API-Key header")
        cache: KeyCache = request.app.state.key_cache
        principal = await cache.lookup(request.app.state.engine, key)
        if principal is None:
            raise ApiError(401, "unauthorized", "unknown API key")
        if scope not in principal.scopes and not _implied(scope, principal.scopes):
            raise ApiError(403, "forbidden", f"this key lacks the scope {scope}")
        return principal

    return dependency


def _implied(scope: str, held: frozenset[str]) -> bool:
    if scope.startswith("racs:"):
        wanted = int(scope.split(":")[1])
        return any(s.startswith("racs:") and int(s.split(":")[1]) >= wanted for s in held)
    return False
