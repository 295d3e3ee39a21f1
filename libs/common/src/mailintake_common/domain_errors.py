"""Refusals a domain rule raises, free of any web framework (STYLE: domain errors, not HTTP errors).

Each carries a stable `code` and a `detail` written for the client (never quoting input); its
class says what kind of refusal it is. The web layer (`errors.py`) maps the kind to a status.
"""

from __future__ import annotations

from typing import ClassVar, Literal

ErrorKind = Literal["not_found", "conflict", "invalid", "unreadable"]


class DomainError(Exception):
    kind: ClassVar[ErrorKind] = "invalid"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does (RACS)."""

    kind = "not_found"


class Conflict(DomainError):
    """The request is valid but the thing's state does not allow it (409)."""

    kind = "conflict"


class Invalid(DomainError):
    """The request itself breaks a rule (422)."""

    kind = "invalid"


class Unreadable(DomainError):
    """The request cannot be read at all: an empty or malformed body (400)."""

    kind = "unreadable"
