"""Hostile files through the real services (issue 15): archive bombs that would fill memory are
held with the reason and the quarantine service keeps serving; active content is held as
harmful while an ordinary letter, form and HTML email from the same sender are cleared.

Intake and quarantine run on a PostgreSQL and broker of their own: the quarantine process
measured here is the only one screening, so its peak memory is the bombs' doing or nobody's.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.factories import active_documents as active
from tests.factories import quarantine_files as files
from tests.support.api import client, wait_for_status
from tests.support.stack import Service, make_service, start_local_infra

EMAIL = {"Content-Type": "message/rfc822"}
SCREENED = {"screened", "classified", "routed", "failed"}
GiB = 1024 * 1024 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    """Intake and quarantine only, on their own database and broker."""
    workdir = tmp_path_factory.mktemp("hostile")
    infra, stoppables = start_local_infra(workdir)
    services = {name: make_service(infra, name, workdir) for name in ("intake", "quarantine")}
    try:
        for service in services.values():
            service.start(wait_ready=False)
        for service in services.values():
            service.wait_ready(timeout_s=180)
        yield services
    finally:
        for service in services.values():
            service.stop()
        for thing in stoppables:
            thing.stop()  # type: ignore[attr-defined]


def peak_memory_bytes(service: Service) -> int:
    """The service process's peak resident memory (VmHWM), from /proc."""
    assert service.proc is not None
    for line in Path(f"/proc/{service.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


async def post_emails(intake: Service, emails: dict[str, bytes]) -> dict[str, str]:
    ids = {}
    async with client(intake.base_url) as http:
        for name, raw in emails.items():
            response = await http.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL)
            assert response.status_code == 202, response.text
            ids[name] = response.json()["document_id"]
    return ids


async def screening_of(intake: Service, document_id: str) -> dict[str, object]:
    async with client(intake.base_url) as http:
        doc = await wait_for_status(http, document_id, SCREENED, timeout_s=120)
    assert doc["screening"] is not None, doc["timeline"]
    return doc["screening"]  # type: ignore[no-any-return]


async def test_zip_and_7z_bombs_are_held_and_the_service_keeps_serving(stack: dict[str, Service]) -> None:
    zip_bomb = files.nested_zip_bomb()  # about 10 KB holding about 4 GB of zeros
    sevenzip_bomb = await asyncio.to_thread(files.sevenzip_bomb)  # about 130 KB holding 4 GiB, 64 MiB a member
    assert len(zip_bomb) + len(sevenzip_bomb) < 512 * 1024
    ids = await post_emails(
        stack["intake"],
        {
            "zip": files.email_with([("statement.zip", zip_bomb, "application/zip")], body="My statements attached."),
            "7z": files.email_with([("scans.7z", sevenzip_bomb, "application/x-7z-compressed")], body="My scans."),
        },
    )
    for name in ("zip", "7z"):
        screening = await screening_of(stack["intake"], ids[name])
        assert screening["verdict"] == "quarantined", name
        assert "archive_bomb" in {f["rule"] for f in screening["findings"]}, screening  # type: ignore[attr-defined]

    after = await post_emails(
        stack["intake"],
        {"letter": files.email_with([("letter.pdf", files.plain_pdf(), "application/pdf")], body="New address.")},
    )
    assert (await screening_of(stack["intake"], after["letter"]))["verdict"] == "clear"
    quarantine = stack["quarantine"]
    assert quarantine.proc is not None and quarantine.proc.poll() is None
    assert peak_memory_bytes(quarantine) < 1 * GiB  # nothing was expanded: gigabytes would show here
    async with client(quarantine.base_url) as http:
        listed = (await http.get("/v1/quarantine?reason=harmful&limit=200")).json()["items"]
        held = {i["document_id"] for i in listed}
        assert {ids["zip"], ids["7z"]} <= held
        release = await http.post(f"/v1/quarantine/{ids['zip']}/release", json={"reason": "looks fine"})
        assert release.status_code == 409


async def test_active_content_is_held_and_ordinary_documents_are_cleared(stack: dict[str, Service]) -> None:
    ids = await post_emails(
        stack["intake"],
        {
            "dde": files.email_with([("reply.docx", active.docx_with_dde_field(), "application/octet-stream")]),
            "pdf_js": files.email_with([("summary.pdf", active.pdf_with_javascript(), "application/pdf")]),
            "svg": files.email_with([("logo.svg", active.SVG_WITH_ONLOAD, "image/svg+xml")]),
            "letter": files.email_with(
                [
                    ("letter.docx", active.letter_docx(), "application/octet-stream"),
                    ("form.pdf", active.pdf_form_with_fields(), "application/pdf"),
                    ("message.html", active.HTML_BODY_WITH_STYLES, "text/html"),
                ],
                body="Please find my letter and the completed form.",
            ),
        },
    )
    expected = {"dde": "dde", "pdf_js": "pdf_javascript", "svg": "svg_script"}
    for name, rule in expected.items():
        screening = await screening_of(stack["intake"], ids[name])
        assert screening["verdict"] == "quarantined"
        assert rule in {f["rule"] for f in screening["findings"]}  # type: ignore[attr-defined]
    letter = await screening_of(stack["intake"], ids["letter"])
    assert letter["verdict"] == "clear" and letter["findings"] == []
    async with client(stack["quarantine"].base_url) as http:
        for name in expected:
            refused = await http.post(f"/v1/quarantine/{ids[name]}/release", json={"reason": "sender says it is fine"})
            assert refused.status_code == 409 and "harmful" in refused.json()["detail"]


async def post_form(intake: Service, fields: dict[str, str], attachments: Sequence[tuple[str, bytes]] = ()) -> str:
    async with client(intake.base_url) as http:
        response = await http.post(
            "/v1/webforms",
            json={
                "form_type": "contact_us",
                "submitted_at": "2026-11-30T09:15:00Z",
                "fields": fields,
                "attachments": [
                    {"filename": name, "content_base64": base64.b64encode(content).decode()}
                    for name, content in attachments
                ],
            },
        )
    assert response.status_code == 202, response.text
    return str(response.json()["document_id"])


async def test_forms_are_screened_in_place_and_their_attachments_in_a_worker(stack: dict[str, Service]) -> None:
    """Issue 18: a form without attachments is screened without a worker round trip (its fields are
    only searched for the anti-virus test string); a form's attachment still goes to a worker and a
    program there is held."""
    intake = stack["intake"]
    plain = await post_form(intake, {"message": "I moved last week, my new address is below. Thanks, Dana"})
    program = await post_form(intake, {"message": "Receipts attached."}, [("receipts.pdf.exe", files.windows_exe())])
    assert await screening_of(intake, plain) == {"verdict": "clear", "findings": []}
    attached = await screening_of(intake, program)
    assert attached["verdict"] == "quarantined"
    assert {"executable", "double_extension"} <= {f["rule"] for f in attached["findings"]}  # type: ignore[attr-defined]
