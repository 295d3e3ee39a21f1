"""The blob store is content-addressed: the same bytes are stored once, under their sha256."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from mailintake_common.blobs import BlobNotFound, BlobStore
from mailintake_common.db import make_engine, unit_of_work
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import blobs
from tests.support.stack import Infra


async def test_same_content_is_stored_once_and_read_back_by_reference(infra: Infra) -> None:
    engine = make_engine(CommonSettings(database_url=infra.database_url))
    content = b"%PDF-1.7 test " + hashlib.sha256(str(id(engine)).encode()).digest()
    try:
        async with unit_of_work(engine) as uow:
            first = await uow.blobs.put(content, "application/pdf")
            second = await uow.blobs.put(content, "application/pdf")
        assert first == second
        assert first.sha256 == hashlib.sha256(content).hexdigest() and first.size == len(content)
        async with engine.connect() as conn:
            assert await BlobStore(conn).get(first) == content
            rows = (await conn.execute(select(func.count()).where(blobs.c.sha256 == first.sha256))).scalar_one()
            assert rows == 1
            with pytest.raises(BlobNotFound):
                await BlobStore(conn).get("0" * 64)
    finally:
        await engine.dispose()
