"""The key store: create, list and revoke API keys, and the dashboard's sessions (SPEC 3).

Creation and revocation are recorded on the key's own row (`created_by`, `revoked_at`,
`revoked_by`: key ids, never secrets) and in the log by key id only (a key's name may name a
person). Rows are never deleted, so the record outlives the key.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, null, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common.auth import (
    BOOTSTRAP_KEY_ID,
    SCOPES,
    Principal,
    check_key_strength,
    hash_key,
    new_key,
    new_session_token,
)
from mailintake_common.domain_errors import Invalid, NotFound
from mailintake_common.tables import api_key_sessions, api_keys

log = logging.getLogger(__name__)


class ScopeNotHeld(Invalid):
    """A key asked to grant a scope it does not hold itself."""


async def create_key(conn: AsyncConnection, name: str, scopes: list[str], created_by: str | None) -> tuple[str, str]:
    """Store a new key; returns (key_id, key). The key itself is shown once and never stored."""
    key = new_key()
    check_key_strength(key)  # guards new_key itself: no key below 32 random bytes is ever issued
    key_id = secrets.token_hex(8)
    await conn.execute(
        api_keys.insert().values(
            key_id=key_id, key_hash=hash_key(key), name=name, scopes=sorted(set(scopes)), created_by=created_by
        )
    )
    log.info("api key created", extra={"key_id": key_id, "by_key_id": created_by})
    return key_id, key


async def ensure_bootstrap_key(engine: AsyncEngine, key: str) -> None:
    """The bootstrap admin key exists with every scope (SPEC 3).

    A new bootstrap key replaces the old one; the same key, once revoked, stays revoked (restarting
    a service must not bring back a key an administrator took away).
    """
    check_key_strength(key, "MAILINTAKE_BOOTSTRAP_ADMIN_KEY")
    async with engine.begin() as conn:
        stmt = insert(api_keys).values(
            key_id=BOOTSTRAP_KEY_ID, key_hash=hash_key(key), name="bootstrap admin", scopes=list(SCOPES)
        )
        same_key = api_keys.c.key_hash == stmt.excluded.key_hash
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["key_id"],
                set_={
                    "key_hash": stmt.excluded.key_hash,
                    "scopes": stmt.excluded.scopes,
                    "revoked_at": case((same_key, api_keys.c.revoked_at), else_=null()),
                    "revoked_by": case((same_key, api_keys.c.revoked_by), else_=null()),
                },
            )
        )


async def list_keys(conn: AsyncConnection, include_revoked: bool = False) -> list[dict[str, Any]]:
    """Name, scopes, created and last-used times (and revocation), never the key or its hash."""
    creator = api_keys.alias("creator")
    revoker = api_keys.alias("revoker")
    query = (
        select(
            api_keys.c.name,
            api_keys.c.scopes,
            api_keys.c.created_at,
            creator.c.name.label("created_by"),
            api_keys.c.last_used_at,
            api_keys.c.revoked_at,
            revoker.c.name.label("revoked_by"),
        )
        .select_from(
            api_keys.outerjoin(creator, creator.c.key_id == api_keys.c.created_by).outerjoin(
                revoker, revoker.c.key_id == api_keys.c.revoked_by
            )
        )
        .order_by(api_keys.c.created_at, api_keys.c.name)
    )
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    rows = (await conn.execute(query)).mappings().all()
    return [
        {
            "name": r["name"],
            "scopes": list(r["scopes"]),
            "created_at": _iso(r["created_at"]),
            "created_by": r["created_by"],
            "last_used_at": _iso(r["last_used_at"]),
            **({"revoked_at": _iso(r["revoked_at"]), "revoked_by": r["revoked_by"]} if include_revoked else {}),
        }
        for r in rows
    ]


async def revoke_keys(conn: AsyncConnection, name: str, by: Principal) -> int:
    """Revoke every active key called `name`; returns how many. None active: NotFound."""
    revoked = (
        await conn.execute(
            api_keys.update()
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=func.now(), revoked_by=by.key_id)
            .returning(api_keys.c.key_id)
        )
    ).all()
    if not revoked:
        raise NotFound("not_found", "no active key has that name")
    ids = [r.key_id for r in revoked]
    await conn.execute(api_key_sessions.delete().where(api_key_sessions.c.key_id.in_(ids)))
    log.info("api key revoked", extra={"key_ids": ids, "by_key_id": by.key_id})
    return len(ids)


async def start_session(conn: AsyncConnection, principal: Principal, lifetime: timedelta) -> tuple[str, datetime]:
    """A dashboard session for `principal`'s key; returns (token, expires_at). Only the token's hash is stored."""
    token = new_session_token()
    expires = (await conn.execute(select(func.now()))).scalar_one() + lifetime
    await conn.execute(
        api_key_sessions.insert().values(session_hash=hash_key(token), key_id=principal.key_id, expires_at=expires)
    )
    await conn.execute(api_key_sessions.delete().where(api_key_sessions.c.expires_at < func.now()))
    return token, expires


async def end_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(api_key_sessions.delete().where(api_key_sessions.c.session_hash == hash_key(token)))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
