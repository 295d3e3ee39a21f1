"""Migrations build the schema from an empty database, and undo it (every installed branch)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.devstack import Postgres, free_port
from mailintake_common.migrate import downgrade, upgrade

SHARED = {
    "documents",
    "timeline",
    "blobs",
    "outbox",
    "processed_events",
    "consumer_attempts",
    "api_keys",
    "api_key_sessions",
    "idempotency_keys",
}


def tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        await engine.dispose()
        return names

    return asyncio.run(read())


@pytest.fixture
def empty_postgres(tmp_path: Path):
    pg = Postgres(tmp_path / "pg", free_port(), fast=True)
    pg.start()
    yield pg
    pg.stop()


def test_upgrade_from_empty_creates_every_table_and_downgrade_removes_them(empty_postgres: Postgres) -> None:
    assert tables(empty_postgres.url) == set()
    upgrade(empty_postgres.url)
    created = tables(empty_postgres.url)
    assert created >= SHARED | {"alembic_version"}
    upgrade(empty_postgres.url)  # applying again changes nothing
    assert tables(empty_postgres.url) == created
    downgrade(empty_postgres.url)
    assert tables(empty_postgres.url) <= {"alembic_version"}
    upgrade(empty_postgres.url)
    assert tables(empty_postgres.url) == created


def test_migrated_schema_matches_the_table_definitions(empty_postgres: Postgres) -> None:
    """tables.py (what the code uses) and the migrations (what the database has) agree."""
    from mailintake_common.tables import metadata

    upgrade(empty_postgres.url)

    async def columns() -> dict[str, set[str]]:
        engine = create_async_engine(empty_postgres.url)
        async with engine.connect() as conn:
            found = await conn.run_sync(
                lambda sync: {t: {c["name"] for c in inspect(sync).get_columns(t)} for t in SHARED}
            )
        await engine.dispose()
        return found

    assert asyncio.run(columns()) == {t: {c.name for c in metadata.tables[t].columns} for t in SHARED}


def test_no_table_is_unlogged(empty_postgres: Postgres) -> None:
    """A PostgreSQL crash loses no committed row (issue 18, session 8; docs/seeds.md): crash
    recovery empties an UNLOGGED table, and the outbox, the idempotency guard and the tries with
    their dead-letter reasons must survive one."""
    upgrade(empty_postgres.url)

    async def unlogged() -> list[str]:
        engine = create_async_engine(empty_postgres.url)
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT relname FROM pg_class WHERE relpersistence = 'u' AND relkind IN ('r', 'p')")
            )
            names = [row[0] for row in rows]
        await engine.dispose()
        return names

    assert asyncio.run(unlogged()) == []
