"""The HTTP side of the CLI: one small client per service, errors turned into `CliError`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Exit codes: scripts can tell "the server said no" from "could not reach it".
EXIT_OK = 0
EXIT_FAILED = 1  # the server refused something (4xx/5xx) or some files failed
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_UNREACHABLE = 3  # no answer from the service


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def default_key() -> str | None:
    """MAILINTAKE_API_KEY, else the key `make run` generated in .data/admin-key."""
    key = os.environ.get("MAILINTAKE_API_KEY")
    if key:
        return key
    path = Path(os.environ.get("MAILINTAKE_DATA_DIR", ".data")) / "admin-key"
    return path.read_text().strip() if path.exists() else None


@dataclass
class Api:
    base_url: str
    key: str | None
    timeout_s: float = 60.0

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-API-Key": self.key} if self.key else {}
        headers.update(kwargs.pop("headers", {}))
        try:
            return httpx.request(method, self.base_url + path, headers=headers, timeout=self.timeout_s, **kwargs)
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach {self.base_url} ({type(exc).__name__})", EXIT_UNREACHABLE) from None

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise CliError(describe_error(response))
        return response.json()


def describe_error(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('error', 'error')}: {body.get('detail', '')}".strip()
    except ValueError:
        return f"{response.status_code} {response.reason_phrase}"
