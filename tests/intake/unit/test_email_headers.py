"""Intake reads an e-mail's Message-ID (SPEC 3 idempotency) from its header section alone (issue 18).

The header parser used to be given the e-mail's first 256 KiB, body and all; it is now given the
header section only, and a plain section (printable ASCII, header lines and folded lines only) is
read without it (session 10). These tests hold the readings equal, on letters written the way
mail clients, gateways and court registries send them and on arbitrary bytes.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailintake_intake.domain.submission import (
    EMAIL_HEAD_BYTES,
    NOT_PLAIN,
    email_message_id,
    header_section,
    plain_message_id,
)
from tests.factories.documents import email_bytes

REGISTRY_NOTICE = (
    b"Received: from mx.registry.example (mx.registry.example [192.0.2.7])\r\n"
    b"\tby gateway.agency.example; Mon, 30 Nov 2026 08:02:11 +1000\r\n"
    b"From: Family Court Registry <registry@court.example>\r\n"
    b"To: edc@agency.example\r\n"
    b"Subject: Notice of listing - file BRC1234/2026\r\n"
    b"Message-ID:\r\n <listing.20261130.0802@court.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Please note the matter has been listed for a directions hearing.\r\n"
    b"Message-ID: <not-a-header@body.example>\r\n"
)


def _full_reading(raw: bytes) -> list[tuple[str, str]]:
    """What the parser made of the e-mail's first 256 KiB, body included (the code before issue 18)."""
    return BytesHeaderParser(policy=compat32).parsebytes(raw[:EMAIL_HEAD_BYTES], headersonly=True).items()


def test_the_header_section_ends_at_the_first_empty_line_and_keeps_folded_headers() -> None:
    section = header_section(REGISTRY_NOTICE)
    assert section.endswith(b"charset=utf-8\r\n\r\n")
    assert b"directions hearing" not in section
    assert email_message_id(REGISTRY_NOTICE) == "<listing.20261130.0802@court.example>"


def test_a_message_id_line_in_the_body_is_not_the_emails() -> None:
    letter = b"From: a parent <parent@mail.example>\nSubject: my payments\n\nMessage-ID: <quoted@body.example>\n"
    assert email_message_id(letter) is None


def test_headers_without_an_empty_line_are_read_whole() -> None:
    letter = b"From: payroll@employer.example\r\nMessage-ID: <deductions-nov@employer.example>"
    assert header_section(letter) == letter
    assert email_message_id(letter) == "<deductions-nov@employer.example>"


def test_a_body_line_before_the_empty_line_ends_the_headers_as_before() -> None:
    # A gateway that dropped the empty line: the parser ends the headers at the first non-header line.
    letter = b"From: someone@mail.example\nHello, I moved house last week.\nMessage-ID: <late@mail.example>\n\nBye\n"
    assert _full_reading(letter) == BytesHeaderParser(policy=compat32).parsebytes(header_section(letter)).items()
    assert email_message_id(letter) is None


_LINE_ENDS = st.sampled_from([b"\r\n", b"\n", b"\r"])
_LINES = st.lists(
    st.one_of(
        st.sampled_from([b"Message-ID: <a1@x.example>", b"Message-Id:", b" <folded@x.example>", b"\tmore", b""]),
        st.sampled_from([b"From: p@x.example", b"Subject: hello", b"not a header", b"From me", b"X:"]),
        st.binary(max_size=30),
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LINES, st.lists(_LINE_ENDS, min_size=12, max_size=12), st.binary(max_size=200))
def test_reading_the_header_section_gives_the_same_headers_as_reading_everything(
    lines: list[bytes], ends: list[bytes], body: bytes
) -> None:
    raw = b"".join(line + end for line, end in zip(lines, ends, strict=False)) + body
    section = header_section(raw)
    assert raw.startswith(section)
    assert BytesHeaderParser(policy=compat32).parsebytes(section, headersonly=True).items() == _full_reading(raw)


def _parsed_message_id(section: bytes) -> object:
    return BytesHeaderParser(policy=compat32).parsebytes(section, headersonly=True).get("Message-ID")


def test_ordinary_letters_are_read_without_the_parser() -> None:
    for letter in (REGISTRY_NOTICE, email_bytes(body="Please update my details. " * 200)):
        section = header_section(letter)
        assert plain_message_id(section) is not NOT_PLAIN
        assert plain_message_id(section) == _parsed_message_id(section)
    assert plain_message_id(header_section(REGISTRY_NOTICE)) == "\r\n <listing.20261130.0802@court.example>"


def test_what_the_parser_treats_its_own_way_is_left_to_it() -> None:
    for section in (
        b"From sender@x.example Mon Nov 30\nMessage-ID: <a@x.example>\n\n",  # an envelope line
        b" folded first\nMessage-ID: <a@x.example>\n\n",
        b"Subject: caf\xc3\xa9\nMessage-ID: <a@x.example>\n\n",
        b"Subject: a\rMessage-ID: <a@x.example>\n\n",
        b"Subject: a\x0cb\nMessage-ID: <a@x.example>\n\n",
        b"not a header\nMessage-ID: <a@x.example>\n\n",
    ):
        assert plain_message_id(section) is NOT_PLAIN
    assert email_message_id(b"Subject: caf\xc3\xa9\nMessage-ID: <a@x.example>\n\nbody") == "<a@x.example>"


_ENDINGS = [b"\r\n", b"\n", b"mixed"]
_PLAIN_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Message-ID: <a1@x.example>",
                b"message-id:<b2@x.example> and more",
                b"MESSAGE-ID:",
                b"Message-ID:  \t ",
                b"Message-ID : spaced",
                b" <folded@x.example>",
                b"\t<tab@x.example> trailing",
                b"  ",
                b"",
                b"From: p@x.example",
                b"From p@x.example",
                b"X:",
                b":no name",
            ]
        ),
        st.text(st.characters(min_codepoint=0x09, max_codepoint=0x7E), max_size=30).map(str.encode),
    ),
    max_size=12,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_PLAIN_LINES, _LINES), st.lists(_LINE_ENDS, min_size=12, max_size=12), st.sampled_from(_ENDINGS))
def test_the_plain_reading_gives_what_the_parser_gives(lines: list[bytes], mixed: list[bytes], ending: bytes) -> None:
    ends = mixed if ending == b"mixed" else [ending] * len(mixed)  # one line end throughout, as mail has
    section = header_section(b"".join(line + end for line, end in zip(lines, ends, strict=False)))
    plain = plain_message_id(section)
    if plain is not NOT_PLAIN:
        assert plain == _parsed_message_id(section)
