"""What intake accepts, decided without I/O: channels, file types, keys, form shapes.

Intake does not judge content (that is quarantine's job: an 8 MB email is accepted and
screened there). It only refuses what it cannot even store as a submission of its channel.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from enum import Enum
from typing import get_args

from mailintake_common.domain_errors import Invalid, Unreadable
from mailintake_common.events import Mailbox

MAILBOXES: tuple[Mailbox, ...] = get_args(Mailbox)  # typed once, in events.py

# Scanner output intake takes, recognised by its first bytes (quarantine sniffs properly later).
SCAN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF
    (b"MM\x00+", "image/tiff"),
    (b"%PDF-", "application/pdf"),
)


# What intake reads of an upload to judge it: a scan's type is in its first KiB, an email's
# header section in its first 256 KiB; the rest streams to the blob store unread.
SCAN_HEAD_BYTES = 1024
EMAIL_HEAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class ScanFile:
    filename: str | None
    declared_type: str | None
    media_type: str


def scan_media_type(content: bytes) -> str | None:
    head = content[:SCAN_HEAD_BYTES]
    for signature, media_type in SCAN_SIGNATURES:
        if head.startswith(signature):
            return media_type
    # Some scanners put junk before %PDF-; PDF readers allow it within the first KiB.
    if b"%PDF-" in head:
        return "application/pdf"
    return None


def check_scan_file(filename: str | None, declared_type: str | None, head: bytes) -> ScanFile:
    """`head` is the file's first `SCAN_HEAD_BYTES` (all of it when shorter)."""
    if not head:
        raise Invalid("empty_file", "a file part is empty")
    media_type = scan_media_type(head)
    if media_type is None:
        raise Invalid("unsupported_file_type", "scans must be PNG, JPEG, TIFF or PDF (recognised by content)")
    return ScanFile(filename, declared_type, media_type)


def check_mailbox(mailbox: str | None) -> Mailbox:
    for known in MAILBOXES:
        if mailbox == known:
            return known
    raise Invalid("invalid_mailbox", f"mailbox must be one of {', '.join(MAILBOXES)}")


_MESSAGE_ID = re.compile(r"<[^<>\s]{1,500}>|[^<>\s]{1,500}")
# Two line ends in a row, as the email parser splits lines (CRLF, CR or LF): the first empty line.
_EMPTY_LINE = re.compile(rb"\n[\r\n]|\r\r")


def header_section(raw: bytes) -> bytes:
    """`raw` up to and including its first empty line: all the parser reads headers from.

    Headers end at the first line that is not a header, at the latest the first empty line, so
    what follows it cannot change them; without an empty line, all of `raw`."""
    found = _EMPTY_LINE.search(raw)
    return raw if found is None else raw[: found.end() + 1]  # +1: the LF of a CRLF empty line


# A header section the parser reads plainly: printable ASCII, tabs and line ends (it also splits
# lines at form feeds and other separators, decodes 8-bit bytes its own way, and ends a line at a
# CR alone), and a header line of the plain kind: a field name (no space or colon) and its colon.
_NOT_PLAIN = re.compile(rb"[^\t\n\r\x20-\x7e]|\r(?!\n)")
_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")


class NotPlain(Enum):
    """`plain_message_id`'s answer for a header section the parser must read."""

    SECTION = "not plain"


NOT_PLAIN = NotPlain.SECTION


def plain_message_id(section: bytes) -> str | NotPlain | None:
    """The raw Message-ID value the compat32 parser gives for a plain header section (the value
    after the colon, folded lines and all), None when it has none, `NOT_PLAIN` for anything the
    parser treats in its own way (a non-header line, a first line that is a continuation, an
    envelope `From ` line, 8-bit bytes): the parser reads those. About 2 us against the parser's
    25 for an ordinary letter (issue 18); tests/intake/unit/test_email_headers.py holds the two equal."""
    if _NOT_PLAIN.search(section):
        return NOT_PLAIN
    value: list[bytes] | None = None
    for index, line in enumerate(section.splitlines(keepends=True)):
        if line in (b"\r\n", b"\n"):  # the empty line: the headers end
            break
        if line[:1] in (b" ", b"\t"):
            if index == 0:
                return NOT_PLAIN
            if value is not None:
                value.append(line)
            continue
        if value is not None:  # the next field: the value is whole
            break
        field = _FIELD.match(line)
        if field is None:
            return NOT_PLAIN
        if line[: field.end() - 1].lower() == b"message-id":
            value = [line[field.end() :].lstrip(b" \t")]
    return None if value is None else b"".join(value).rstrip(b"\r\n").decode("ascii")


def email_message_id(raw: bytes) -> str | None:
    """The Message-ID header, normalised, or None. Reads headers only, never the body."""
    section = header_section(raw[:EMAIL_HEAD_BYTES])
    value = plain_message_id(section)
    if value is NOT_PLAIN:
        try:
            value = BytesHeaderParser(policy=compat32).parsebytes(section, headersonly=True).get("Message-ID")
        except Exception:
            return None
    if not value:
        return None
    match = _MESSAGE_ID.search(str(value).strip())
    return match.group(0) if match else None


def check_email(raw: bytes) -> None:
    """An email must at least have a header section; broken MIME below it is quarantine's.

    `raw` may be only the email's first `EMAIL_HEAD_BYTES`.
    """
    if not raw.strip():
        raise Unreadable("empty_body", "the request body is empty")
    head = raw[: 64 * 1024].lstrip()
    first_line = head.split(b"\n", 1)[0]
    if b":" not in first_line and not first_line.startswith(b"From "):
        raise Invalid("invalid_email", "the body is not an RFC 822 message (no header fields)")


def parse_received_at(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("invalid_received_at", "received_at must be an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def decode_attachment(index: int, content_base64: str) -> bytes:
    try:
        return base64.b64decode(re.sub(r"\s+", "", content_base64), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("invalid_base64", f"attachments[{index}].content_base64 is not valid base64") from None


def idempotency_key(header_value: str | None) -> str | None:
    if header_value is None:
        return None
    key = header_value.strip()
    if not key:
        return None
    if len(key) > 255:
        raise Invalid("invalid_idempotency_key", "Idempotency-Key must be at most 255 characters")
    return key
