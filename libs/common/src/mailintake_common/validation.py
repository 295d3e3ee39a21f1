"""Text that PostgreSQL can store: no NUL characters and no lone surrogates.

JSON can carry both ("\\u0000", "\\ud800"), PostgreSQL text cannot; such input is a client error
(422), not a server failure. Use `StoredText` for any request field that ends up in a column.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


StoredText = Annotated[str, AfterValidator(storable)]


def short_validation_error(exc: ValueError) -> str:
    """Field locations and error kinds only: validation messages can echo input values."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['type']}" for e in errors()[:5]]
        return "invalid event: " + "; ".join(parts)
    return "invalid event"
