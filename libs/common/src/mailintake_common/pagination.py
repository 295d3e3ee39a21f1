"""Keyset pagination cursors: opaque to clients, `(timestamp, id)` to the services."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from mailintake_common.errors import ApiError


def encode_cursor(at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The position a cursor names, or None for the first page; 422 for one this API did not give."""
    if not cursor:
        return None
    try:
        at, key = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(at), key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned") from None
