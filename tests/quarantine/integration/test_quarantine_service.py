"""Emails posted to intake come out of quarantine with the right verdicts, listed and releasable."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import quarantine_files as files
from tests.support.api import client, wait_for_status
from tests.support.kafka import read_topic
from tests.support.stack import Infra, Service

MiB = 1024 * 1024
EMAIL = {"Content-Type": "message/rfc822"}


@pytest.fixture
async def posted(stack: dict[str, Service]) -> dict[str, str]:
    emails = {
        "clean": files.email_with([("letter.pdf", files.plain_pdf(), "application/pdf")], body="CRN 123456789A"),
        "harmful": files.email_with([("invoice.pdf.exe", files.windows_exe(), "application/octet-stream")]),
        "big": files.email_with([("scan.pdf", b"%PDF-1.4\n" + b"0" * (5 * MiB), "application/pdf")]),
        "encrypted": files.email_with([("docs.zip", files.zipcrypto_zip(), "application/zip")]),
    }
    async with client(stack["intake"].base_url) as http:
        ids = {}
        for name, raw in emails.items():
            response = await http.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL)
            assert response.status_code == 202
            ids[name] = response.json()["document_id"]
    return ids


async def test_verdicts_are_published_recorded_and_listed(
    stack: dict[str, Service], infra: Infra, posted: dict[str, str]
) -> None:
    wanted = set(posted.values())
    events = await read_topic(
        infra.bootstrap, "mail.quarantine.screened", lambda vs: wanted <= {v["document_id"] for v in vs}, 60
    )
    verdicts = {e["document_id"]: e["payload"]["verdict"] for e in events if e["document_id"] in wanted}
    assert verdicts == {
        posted["clean"]: "clear",
        posted["harmful"]: "quarantined",
        posted["big"]: "manual_adjustment",
        posted["encrypted"]: "quarantined",
    }
    clean = next(e for e in events if e["document_id"] == posted["clean"])
    assert {p["kind"] for p in clean["payload"]["cleared_parts"]} == {"text_body", "attachment"}
    assert "email" not in clean["payload"] and "parent@example.org" not in str(clean)  # v2: in the database
    harmful = next(e for e in events if e["document_id"] == posted["harmful"])
    assert {p["kind"] for p in harmful["payload"]["cleared_parts"]} == {"text_body"}  # the attachment is withheld

    async with client(stack["intake"].base_url) as http:
        doc = await wait_for_status(http, posted["harmful"], {"screened", "classified", "routed"})
        assert doc["screening"]["verdict"] == "quarantined"
        assert {f["rule"] for f in doc["screening"]["findings"]} >= {"executable", "double_extension"}
        assert any(t["stage"] == "quarantine" and t["outcome"] == "quarantined" for t in doc["timeline"])

    async with client(stack["quarantine"].base_url) as http:
        listed = await _all_items(http, "/v1/quarantine?limit=2")
        by_id = {i["document_id"]: i for i in listed}
        assert posted["clean"] not in by_id
        assert by_id[posted["harmful"]]["reasons"] == ["harmful"]
        assert by_id[posted["encrypted"]]["reasons"] == ["encrypted"]
        assert by_id[posted["big"]]["verdict"] == "manual_adjustment"
        sized = await _all_items(http, "/v1/quarantine?reason=size")
        assert posted["big"] in {i["document_id"] for i in sized}
        assert posted["harmful"] not in {i["document_id"] for i in sized}


async def test_release_is_refused_for_harmful_and_encrypted_and_allowed_after_adjustment(
    stack: dict[str, Service], infra: Infra, posted: dict[str, str]
) -> None:
    async with client(stack["intake"].base_url) as http:
        for name in ("harmful", "big", "encrypted"):
            await wait_for_status(http, posted[name], {"screened", "classified", "routed"})
    async with client(stack["quarantine"].base_url) as http:
        refused = await http.post(f"/v1/quarantine/{posted['harmful']}/release", json={"reason": "looks fine"})
        assert refused.status_code == 409 and "harmful" in refused.json()["detail"]
        refused = await http.post(f"/v1/quarantine/{posted['encrypted']}/release")  # the body is optional
        assert refused.status_code == 409 and "encrypted" in refused.json()["detail"]
        missing = await http.post("/v1/quarantine/nope/release", json={"reason": "x"})
        assert missing.status_code == 404
        released = await http.post(f"/v1/quarantine/{posted['big']}/release", json={"reason": "attachment split"})
        assert released.status_code == 200, released.text
        assert released.json()["verdict"] == "clear"
        again = await http.post(f"/v1/quarantine/{posted['big']}/release", json={"reason": "again"})
        assert again.status_code == 409
    events = await read_topic(
        infra.bootstrap,
        "mail.quarantine.screened",
        lambda vs: (
            [v["payload"]["verdict"] for v in vs if v["document_id"] == posted["big"]] == ["manual_adjustment", "clear"]
        ),
        60,
    )
    assert events


async def test_quarantine_api_needs_keys_and_scopes(stack: dict[str, Service]) -> None:
    async with client(stack["quarantine"].base_url, None) as anonymous:
        assert (await anonymous.get("/v1/quarantine")).status_code == 401
    async with client(stack["quarantine"].base_url) as http:
        assert (await http.get("/v1/quarantine?reason=nonsense")).status_code == 422
        assert (await http.get("/v1/quarantine?cursor=%%%")).status_code == 422


async def _all_items(http: httpx.AsyncClient, first: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    url: str | None = first
    while url:
        page = (await http.get(url)).json()
        items.extend(page["items"])
        base = first.split("cursor=")[0]
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}cursor={page['next_cursor']}" if page["next_cursor"] else None
    return items
