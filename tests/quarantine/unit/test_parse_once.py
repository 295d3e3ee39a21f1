"""Screening parses an email once per header (issue 18) and reads it exactly as `policy.default` does."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from email.utils import getaddresses
from pathlib import Path

import pytest

from mailintake_quarantine.domain import mime
from mailintake_quarantine.domain.mime import MAX_CACHED_HEADERS, ParsedOnce, parse_email
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import rules, screen_email

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
EMAILS = sorted((CORPUS / "cpython-test_email").glob("*.txt"))

# Headers a careless or hostile sender writes: encoded words in odd places, RFC 2231 names,
# missing values, bad addresses, comments, folding and stray bytes.
ODD = (
    b'From: =?utf-8?b?Sm\xc3\xb6?= <not an address>, "Unclosed <x@y\r\n'
    b"To: undisclosed-recipients:;, a@b, (comment) c@d (more)\r\n"
    b"Subject: =?unknown-8bit?q?caf=E9?= and =?utf-8?b?bad base64?=\r\n"
    b"Message-ID: no angle brackets\r\n"
    b"MIME-Version: 1.0 (produced by hand)\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"; boundary="b2"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b'Content-Type: text/plain; charset="x-no-such-charset"; format=\r\n'
    b"Content-Transfer-Encoding: base64 (really)\r\n"
    b"\r\n"
    b"SGVsbG8gdGhlcmUh=\r\n"
    b"--b1\r\n"
    b"Content-Type: application/octet-stream;\r\n name*0*=utf-8''%E2%80%AEtxt.;\r\n name*1=\"exe\"\r\n"
    b'Content-Disposition: attachment; filename="=?utf-8?q?letter=2Eexe?="\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"TVqQAAMAAAAEAAAA\r\n"
    b"--b1--\r\n"
)


def _factory(message: Message) -> ParsedOnce:
    factory = getattr(message.policy, "header_factory", None)
    assert isinstance(factory, ParsedOnce)
    return factory


def _reading(message: Message) -> list[object]:
    """Everything screening can read from a message, header by header and part by part."""
    seen: list[object] = []
    for part in message.walk():
        for name, value in part.items():
            seen.append((name, str(value), type(value).__mro__[1], [type(d) for d in getattr(value, "defects", ())]))
        seen.append((part.get_content_type(), part.get_filename(), part.get_content_disposition()))
        seen.append((part.get_param("charset"), part.get_param("smime-type"), part.get_param("report-type")))
        seen.append(part.get_payload(decode=True) if not part.is_multipart() else None)
        seen.append([type(d) for d in part.defects])
    return seen


@pytest.mark.parametrize("raw", [ODD, *(p.read_bytes() for p in EMAILS)], ids=["odd", *(p.name for p in EMAILS)])
def test_parsing_once_reads_every_header_and_part_as_the_standard_policy_does(raw: bytes) -> None:
    standard = email.message_from_bytes(raw, policy=email.policy.default)
    assert _reading(parse_email(raw)) == _reading(standard)


def test_the_odd_email_still_reads_as_malformed_and_its_disguised_program_is_held() -> None:
    result = screen_email(ODD)
    assert {"malformed_email", "executable"} <= rules(result)
    assert result.verdict == "quarantined"


def test_an_email_with_very_many_headers_keeps_a_bounded_number_parsed() -> None:
    count = 3 * max(MAX_CACHED_HEADERS, mime.MAX_SHARED_HEADERS)
    notes = {f"X-Note-{i}": f"note {i} " + "x" * (i % 2) * mime.MAX_SHARED_VALUE_CHARS for i in range(count)}
    raw = files.email_with([], **notes)
    message = parse_email(raw)
    standard = email.message_from_bytes(raw, policy=email.policy.default)
    assert [str(message[name]) for name in notes] == [str(standard[name]) for name in notes]
    assert 0 < len(_factory(message)._kept) <= MAX_CACHED_HEADERS
    assert mime._shared.cache_info().currsize <= mime.MAX_SHARED_HEADERS


def test_only_short_headers_are_shared_between_emails_and_long_ones_are_not_kept() -> None:
    """A long header (a hostile address list) is parsed on every fetch, as policy.default does."""
    long_to = ", ".join(f"person{i}@example.org" for i in range(mime.MAX_CACHED_VALUE_CHARS // 10))
    raw = files.email_with([], Cc=long_to)
    first, second = parse_email(raw), parse_email(raw)
    assert first["MIME-Version"] is second["MIME-Version"]  # short: parsed once for both
    assert first["Subject"] is second["Subject"]
    assert str(first["Cc"]) == str(email.message_from_bytes(raw, policy=email.policy.default)["Cc"])
    assert first["Cc"] is not first["Cc"]  # over the bounds: parsed on every fetch
    assert all(len(value) <= mime.MAX_CACHED_VALUE_CHARS for _, value in _factory(first)._kept)
    assert _factory(first) is not _factory(second)


@pytest.mark.parametrize("raw", [ODD, *(p.read_bytes() for p in EMAILS)], ids=["odd", *(p.name for p in EMAILS)])
def test_addresses_read_as_getaddresses_does_the_first_time_and_after(raw: bytes) -> None:
    message = parse_email(raw)
    for values in ([str(message.get("From", ""))], [str(v) for v in message.get_all("To", [])]):
        assert mime.addresses(values) == getaddresses(values)
        assert mime.addresses(values) == getaddresses(values)  # kept or not, the same reading


def test_short_addresses_are_read_once_and_long_ones_every_time(monkeypatch) -> None:
    """The agency's own address recurs from one email to the next; a long (hostile) list is not kept."""
    calls: list[list[str]] = []

    def counted(values: list[str]) -> list[tuple[str, str]]:
        calls.append(values)
        return getaddresses(values)

    monkeypatch.setattr(mime, "getaddresses", counted)
    mime._shared_addresses.cache_clear()
    short = ["Child Support <edc@agency.example>"]
    first = mime.addresses(short)
    first.append(("changed", "by a caller"))  # a fresh list each time: the kept reading is not touched
    assert mime.addresses(short) == [("Child Support", "edc@agency.example")]
    long = [", ".join(f"person{i}@example.org" for i in range(mime.MAX_SHARED_ADDRESS_CHARS // 10))]
    assert mime.addresses(long) == mime.addresses(long) == getaddresses(long)
    assert calls == [short, long, long]
    assert mime._shared_addresses.cache_info().currsize == 1
