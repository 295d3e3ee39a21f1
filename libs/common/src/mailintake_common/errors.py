"""Errors with a stable code, rendered as `{"error": code, "detail": ...}` (SPEC 3).

Details are written for the client and never quote the input: input can carry personal data.
Unexpected exceptions become a 500 with a generic body, and a 503 when the database is down.
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError as SQLAlchemyInterfaceError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from mailintake_common.db import is_unavailable
from mailintake_common.domain_errors import DomainError, ErrorKind
from mailintake_common.s3 import ObjectStoreUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(code)
        self.status_code = status_code
        self.code = code
        self.detail = detail


STATUS_OF: dict[ErrorKind, int] = {"not_found": 404, "conflict": 409, "invalid": 422, "unreadable": 400}


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.detail), status_code=exc.status_code)

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.detail), status_code=STATUS_OF[exc.kind])

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Locations and error kinds only: pydantic messages may echo the submitted values.
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return JSONResponse(error_body("invalid_json", "the body is not valid JSON"), status_code=400)
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('type', 'invalid')}" for e in exc.errors()[:10]
        )
        return JSONResponse(error_body("invalid_request", where or "invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            403: "forbidden",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        # The client left mid-body: nothing was stored and nobody will read this answer.
        log.info("client disconnected before the body was complete", extra={"path": request.url.path})
        return JSONResponse(error_body("client_disconnected", "the request body was incomplete"), status_code=400)

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, ObjectStoreUnavailable):  # MAILINTAKE_BLOB_STORE=s3: the bucket did not answer
            log.warning("object store unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
            return JSONResponse(
                error_body("unavailable", "the object store is unavailable; nothing was stored, try again"),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        if is_unavailable(exc):
            log.warning("database unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
            return JSONResponse(
                error_body("unavailable", "the database is unavailable; nothing was stored, try again"),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        # The stack as code locations only (observability.py); the trace id from the request, since a
        # server error is answered outside the request's span.
        log.error(
            "unexpected error",
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"error": type(exc).__name__, "trace_id": getattr(request.state, "trace_id", None)},
        )
        return JSONResponse(error_body("internal", "unexpected error"), status_code=500)

    # Database and network failures are answered by the exception middleware (the connection stays
    # usable); anything else falls through to the server-error handler.
    for kind in (
        DBAPIError,
        SQLAlchemyInterfaceError,
        OSError,
        TimeoutError,
        asyncpg.exceptions.InterfaceError,
        asyncpg.exceptions.PostgresConnectionError,
        ObjectStoreUnavailable,
    ):
        app.add_exception_handler(kind, _unexpected)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
