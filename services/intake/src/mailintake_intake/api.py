"""Intake's HTTP routes (SPEC 3): the three channels, document status, and API keys.

Routes only translate HTTP into a `Submission` (domain/submission.py checks it) and hand
it to `store_submission`, which writes blobs, document, timeline and the `received` event
in one transaction. Nothing here judges content: that is quarantine's job.
"""

from __future__ import annotations

import json
import mimetypes
import tempfile
from datetime import datetime
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect

from mailintake_common import recovery
from mailintake_common.auth import SCOPES, Principal, require_scope, scopes_not_held
from mailintake_common.direct import direct
from mailintake_common.documents import DocumentRepository, effective_racs_level
from mailintake_common.errors import ApiError
from mailintake_common.events import FormType
from mailintake_common.gate import BodyTooLarge, gated
from mailintake_common.keys import create_key, list_keys, revoke_keys
from mailintake_common.pagination import decode_cursor, encode_cursor
from mailintake_common.validation import StoredText
from mailintake_common.web import EngineDep
from mailintake_intake.adapters.submissions import PartIn, Stored, Submission, store_submission
from mailintake_intake.domain.submission import (
    EMAIL_HEAD_BYTES,
    SCAN_HEAD_BYTES,
    check_email,
    check_mailbox,
    check_scan_file,
    decode_attachment,
    email_message_id,
    idempotency_key,
    parse_received_at,
)
from mailintake_intake.settings import IntakeSettings

router = APIRouter(prefix="/v1")
ReadKey = Annotated[Principal, Depends(require_scope("ops:read"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]


class Accepted(BaseModel):
    document_id: str
    status: str
    status_url: str


def _accepted(stored: Stored) -> JSONResponse:
    body = {
        "document_id": stored.document_id,
        "status": stored.status,
        "status_url": f"/v1/documents/{stored.document_id}",
    }
    return JSONResponse(body, status_code=202 if stored.created else 200)


def _settings(request: Request) -> IntakeSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


# The three intake routes read their engine, `mailbox` and `Idempotency-Key` themselves, and take
# their scope from `gated`: FastAPI solves each declared parameter and dependency again on every
# request, which cost an accepted document more CPU than the rest of its route outside the
# database (issue 18). OpenAPI still shows the two parameters, declared as FastAPI declares them
# (tests/intake/unit/test_hot_routes.py).
def _optional_text(name: str, where: Literal["query", "header"]) -> dict[str, Any]:
    text_or_null = {"anyOf": [{"type": "string"}, {"type": "null"}], "title": name.title()}
    return {"name": name, "in": where, "required": False, "schema": text_or_null}


def _openapi(*parameters: dict[str, Any]) -> dict[str, Any]:
    """The route's parameters, and the 422 answer FastAPI lists for a route with parameters."""
    invalid = {"$ref": "#/components/schemas/HTTPValidationError"}
    validation = {"description": "Validation Error", "content": {"application/json": {"schema": invalid}}}
    return {"parameters": list(parameters), "responses": {"422": validation}}


MAILBOX = _optional_text("mailbox", "query")
IDEMPOTENCY_KEY = _optional_text("Idempotency-Key", "header")


def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _idempotency_header(request: Request) -> str | None:
    return request.headers.get("idempotency-key")


@router.post(
    "/emails",
    status_code=202,
    response_model=Accepted,
    tags=["intake"],
    openapi_extra=_openapi(MAILBOX, IDEMPOTENCY_KEY),
)
@direct()
@gated("intake:write")
async def post_email(request: Request) -> JSONResponse:
    """Accept one raw RFC 822 message (`Content-Type: message/rfc822`) for `mailbox`."""
    box = check_mailbox(request.query_params.get("mailbox"))
    # A body up to the spool's memory size is held as bytes and stored as they are: handing a
    # small in-memory file to the store cost two thread hand-offs per e-mail (issue 18). A larger
    # body spools to disk and streams on to the blob store; only its head is read here.
    limit = _settings(request).email_spool_memory_bytes
    held: list[bytes] = []
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=limit) as spilled:
        async for chunk in request.stream():  # the body limit middleware stops this past the limit
            size += len(chunk)
            if size <= limit:
                held.append(chunk)
                continue
            if held:
                spilled.write(b"".join(held))
                held = []
            spilled.write(chunk)
        body: bytes | IO[bytes]
        if size <= limit:
            body = head = b"".join(held)
        else:
            spilled.seek(0)
            head = spilled.read(EMAIL_HEAD_BYTES)
            spilled.seek(0)
            body = spilled
        check_email(head[:EMAIL_HEAD_BYTES])
        key = idempotency_key(_idempotency_header(request)) or email_message_id(head)
        part = PartIn(role="raw_email", content=body, media_type="message/rfc822", declared_type="message/rfc822")
        submission = Submission(channel="email", mailbox=box, idempotency_key=key, parts=[part])
        return _accepted(await store_submission(_engine(request), submission, trace_id=request.state.trace_id))


@router.post(
    "/scans", status_code=202, response_model=Accepted, tags=["intake"], openapi_extra=_openapi(IDEMPOTENCY_KEY)
)
@gated("intake:write")
async def post_scan(request: Request) -> JSONResponse:
    """Accept a multipart form of one or more `file` parts (PNG, JPEG, TIFF, PDF)."""
    settings = _settings(request)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "malformed_multipart", "the body must be multipart/form-data with one or more file parts")
    try:
        form = await request.form(max_files=settings.max_scan_files, max_fields=50)
    except BodyTooLarge:
        raise
    except (MultiPartException, StarletteHTTPException, ValueError):
        raise ApiError(400, "malformed_multipart", "the multipart body could not be parsed") from None
    try:
        files = [item for key, item in form.multi_items() if key == "file"]
        if not files:
            raise ApiError(422, "missing_file", "at least one `file` part is required")
        parts: list[PartIn] = []
        for item in files:
            if not isinstance(item, UploadFile):
                raise ApiError(422, "invalid_file", "each `file` part must be a file upload")
            # The parser spooled the file (to disk past 1 MiB); only its head is read here and
            # the store streams the rest, so a large scan is never whole in memory.
            head = await item.read(SCAN_HEAD_BYTES)
            await item.seek(0)
            scan = check_scan_file(item.filename, item.content_type, head)
            parts.append(PartIn("scan", item.file, scan.media_type, scan.filename, scan.declared_type))
        submission = Submission(
            channel="scan",
            parts=parts,
            idempotency_key=idempotency_key(_idempotency_header(request)),
            received_at=parse_received_at(_text_field(form.get("received_at"))),
            batch_id=_text_field(form.get("batch_id")),
            scanner_id=_text_field(form.get("scanner_id")),
        )
        return _accepted(await store_submission(_engine(request), submission, trace_id=request.state.trace_id))
    finally:
        await form.close()  # the spooled files are read by now


def _text_field(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_field", "batch_id, scanner_id and received_at must be text fields")
    return value.strip()[:200] or None


class WebformAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: StoredText = Field(min_length=1, max_length=255)
    content_base64: str


class Webform(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form_type: FormType
    submitted_at: datetime
    fields: dict[StoredText, StoredText]  # stored, and read again as text by later stages
    attachments: list[WebformAttachment] = Field(default_factory=list)


async def _plain_webform(request: Request) -> dict[str, Any] | None:
    """A JSON web form that is valid as it stands, read and validated as FastAPI does (the body
    as JSON, the model in Python mode); None for anything else, which FastAPI then answers itself:
    its refusals (`invalid_json`, `invalid_request` with locations) are the contract (direct.py)."""
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
        return None
    try:
        body = await request.body()
    except ClientDisconnect:  # FastAPI answers a body it could not read in its own way
        return None
    try:
        data = json.loads(body)
    except Exception:  # not JSON (or nested past the parser's depth): FastAPI's answer
        return None
    try:
        return {"form": Webform.model_validate(data)}
    except ValidationError:  # not a web form: FastAPI's answer, with the errors' locations
        return None


@router.post(
    "/webforms",
    status_code=202,
    response_model=Accepted,
    tags=["intake"],
    openapi_extra=_openapi(IDEMPOTENCY_KEY),
)
@direct(_plain_webform)
@gated("intake:write")
async def post_webform(request: Request, form: Webform) -> JSONResponse:
    """Accept a submitted web form: its fields and optional base64 attachments."""
    settings = _settings(request)
    if len(form.fields) > settings.max_form_fields:
        raise ApiError(422, "too_many_fields", f"a form may have at most {settings.max_form_fields} fields")
    if any(len(v) > settings.max_form_field_chars for v in form.fields.values()):
        raise ApiError(422, "field_too_long", f"a field may have at most {settings.max_form_field_chars} characters")
    if len(form.attachments) > settings.max_webform_attachments:
        raise ApiError(422, "too_many_attachments", f"at most {settings.max_webform_attachments} attachments")
    fields_doc = {"form_type": form.form_type, "submitted_at": form.submitted_at.isoformat(), "fields": form.fields}
    parts = [PartIn("form_fields", json.dumps(fields_doc, ensure_ascii=False).encode(), "application/json")]
    for index, attachment in enumerate(form.attachments):
        declared = mimetypes.guess_type(attachment.filename)[0]
        content = decode_attachment(index, attachment.content_base64)
        parts.append(PartIn("attachment", content, "application/octet-stream", attachment.filename, declared))
    submission = Submission(
        channel="webform",
        parts=parts,
        idempotency_key=idempotency_key(_idempotency_header(request)),
        form_type=form.form_type,
        submitted_at=form.submitted_at,
    )
    return _accepted(await store_submission(_engine(request), submission, trace_id=request.state.trace_id))


@router.get("/documents/{document_id}", tags=["status"])
async def get_document(document_id: str, engine: EngineDep, principal: ReadKey) -> dict[str, Any]:
    """A document's status, stage results and full timeline; RACS documents are 404 without scope."""
    async with engine.connect() as conn:
        repo = DocumentRepository(conn)
        doc = await repo.get(document_id[:64])
        if doc is None or not principal.can_see(effective_racs_level(doc["racs_level"])):
            raise ApiError(404, "not_found", "no such document")
        events = await repo.timeline(document_id)
    return {
        "document_id": doc["document_id"],
        "channel": doc["channel"],
        "status": doc["status"],
        "received_at": doc["received_at"].isoformat(),
        "timeline": [
            {"stage": e["stage"], "at": e["at"].isoformat(), "outcome": e["outcome"], "reasons": list(e["reasons"])}
            for e in events
        ],
        "screening": doc["screening"],
        "classification": doc["classification"],
        "routing": doc["routing"],
    }


@router.get("/documents", tags=["status"])
async def list_documents(
    engine: EngineDep,
    principal: ReadKey,
    status: Annotated[Literal["failed"], Query(description="only failed documents are listed")] = "failed",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Failed documents with the stage that gave up and why, oldest first (RACS as for documents)."""
    async with engine.connect() as conn:
        rows = await DocumentRepository(conn).failed(limit + 1, decode_cursor(cursor), principal.racs_level)
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [
            {
                "document_id": r["document_id"],
                "channel": r["channel"],
                "status": status,
                "received_at": r["received_at"].isoformat(),
                "stage": r["stage"],
                "reason": "; ".join(r["reasons"] or []),
                "reasons": list(r["reasons"] or []),
                "failed_at": (r["failed_at"] or r["updated_at"]).isoformat(),
            }
            for r in page
        ],
        "next_cursor": encode_cursor(page[-1]["updated_at"], page[-1]["document_id"]) if more and page else None,
    }


@router.post("/documents/{document_id}/retry", status_code=202, tags=["status"])
async def retry_document(document_id: str, request: Request, engine: EngineDep, principal: AdminKey) -> dict[str, Any]:
    """Run a failed document's failed stage again (its input event is sent again; 409 if not failed)."""
    trace_id = getattr(request.state, "trace_id", "") or document_id
    return await recovery.retry_document(engine, document_id[:64], principal, trace_id)


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StoredText = Field(min_length=1, max_length=200)
    scopes: list[StoredText] = Field(min_length=1)


@router.post("/admin/api-keys", status_code=201, tags=["admin"])
async def post_api_key(body: NewKey, engine: EngineDep, principal: AdminKey) -> dict[str, Any]:
    """Create an API key; the key is returned once and only its hash is stored.

    A key can only grant scopes it holds itself (SPEC 3): 403 `scope_not_held` otherwise.
    """
    unknown = sorted(set(body.scopes) - set(SCOPES))
    if unknown:
        raise ApiError(422, "invalid_scope", f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    lacking = scopes_not_held(principal.scopes, body.scopes)
    if lacking:
        raise ApiError(
            403, "scope_not_held", f"a key can only grant scopes it holds; this one lacks {', '.join(lacking)}"
        )
    async with engine.begin() as conn:
        _, key = await create_key(conn, body.name, body.scopes, created_by=principal.key_id)
    return {"key": key, "name": body.name, "scopes": sorted(set(body.scopes))}


@router.get("/admin/api-keys", tags=["admin"])
async def get_api_keys(
    engine: EngineDep, _: AdminKey, include_revoked: Annotated[bool, Query()] = False
) -> list[dict[str, Any]]:
    """Every active key (and, asked, revoked ones): name, scopes, created and last-used times; never the key."""
    async with engine.connect() as conn:
        return await list_keys(conn, include_revoked)


@router.delete("/admin/api-keys/{name:path}", tags=["admin"])
async def delete_api_key(name: str, request: Request, engine: EngineDep, principal: AdminKey) -> dict[str, Any]:
    """Revoke every active key called `name`; every service refuses it within `MAILINTAKE_KEY_CACHE_TTL_S`."""
    async with engine.begin() as conn:
        revoked = await revoke_keys(conn, name, principal)
    request.app.state.key_cache.clear()
    return {"name": name, "revoked": revoked}
