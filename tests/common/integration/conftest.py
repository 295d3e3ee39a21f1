"""Fixtures the common integration tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.db import make_engine
from mailintake_common.settings import CommonSettings


@pytest.fixture
async def engine(settings: CommonSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the test module's `settings`, disposed after the test (a module that needs
    another engine defines its own)."""
    engine = make_engine(settings)
    yield engine
    await engine.dispose()
