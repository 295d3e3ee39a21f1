"""Posting files to intake: one document per email, scan file or web-form JSON file."""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailintake_cli.client import Api, CliError, describe_error


@dataclass
class Outcome:
    file: str
    ok: bool
    status_code: int | None
    document_id: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def submit_one(api: Api, kind: str, path: Path, mailbox: str) -> Outcome:
    try:
        response = _post(api, kind, path, mailbox)
    except OSError as exc:
        return Outcome(str(path), False, None, error=f"cannot read file ({exc.strerror})")
    except CliError as exc:
        return Outcome(str(path), False, None, error=str(exc))
    if response.status_code in (200, 202):
        return Outcome(str(path), True, response.status_code, response.json()["document_id"])
    return Outcome(str(path), False, response.status_code, error=describe_error(response))


def _post(api: Api, kind: str, path: Path, mailbox: str):
    if kind == "email":
        return api.request(
            "POST",
            f"/v1/emails?mailbox={mailbox}",
            content=path.read_bytes(),
            headers={"Content-Type": "message/rfc822"},
        )
    if kind == "scan":
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return api.request("POST", "/v1/scans", files=[("file", (path.name, path.read_bytes(), media_type))])
    try:
        body = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise CliError("not a JSON web form (see `mailintake submit --help`)") from None
    return api.request("POST", "/v1/webforms", json=body)
