"""A database that cannot serve a request now is a 503 with Retry-After, never a 500 (SPEC 3).

Under a load average of 16 the bench saw intake answer 500: every pooled connection was busy
and SQLAlchemy's pool raised its own TimeoutError, which is not Python's.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mailintake_common.db import is_unavailable
from mailintake_common.errors import install_error_handlers


def test_a_pool_timeout_means_unavailable_and_a_bug_does_not() -> None:
    assert is_unavailable(PoolTimeout("QueuePool limit reached, connection timed out"))
    assert not is_unavailable(ValueError("a bug"))


@pytest.mark.parametrize(("raised", "status"), [(PoolTimeout("pool busy"), 503), (KeyError("bug"), 500)])
async def test_the_answer_to_a_busy_pool_is_503_with_retry_after(raised: Exception, status: int) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/emails")
    async def post() -> None:
        raise raised

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post("/v1/emails")
    assert response.status_code == status
    if status == 503:
        assert response.headers["Retry-After"] and response.json()["error"] == "unavailable"
