"""PDF object heads are found from each `obj` keyword (issue 18), exactly where the pattern finds them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mailintake_quarantine.adapters.active_pdf import _OBJECT_HEAD, _object_heads, pdf_active
from tests.factories import active_documents as active
from tests.factories import quarantine_files as files

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
SPACE = st.sampled_from([b" ", b"\t", b"\r", b"\n", b"\r\n"])
JUNK = st.sampled_from([b"", b"x", b"7", b" ", b"obj", b"endobj", b"objx", b"stream", b"<</Type/ObjStm>>", b"\xff"])


@st.composite
def heads_and_near_misses(draw: st.DrawFn) -> bytes:
    """`<digits> <spaces> <digits> <spaces> obj ... stream` with every run at, under and over the
    pattern's bounds (10 and 5 digits, 8 spaces), between junk that looks like parts of a head."""
    digits = st.integers(0, 12).map(lambda n: b"9" * n)
    spaces = st.integers(0, 10).flatmap(lambda n: st.lists(SPACE, min_size=n, max_size=n).map(b"".join))
    head = [draw(JUNK), draw(digits), draw(spaces), draw(st.integers(0, 7).map(lambda n: b"0" * n)), draw(spaces)]
    head += [draw(st.sampled_from([b"obj", b"obj ", b"objx", b"ob"])), draw(JUNK)]
    head += [draw(st.sampled_from([b"stream\n", b"stream\r\n", b" stream\n", b"xstream\n", b"stream"]))]
    return b"".join(head)


def _spans(found: object) -> list[tuple[int, int, bytes]]:
    return [(m.start(), m.end(), m.group(1)) for m in found]  # type: ignore[attr-defined]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(heads_and_near_misses(), max_size=6))
def test_heads_are_the_patterns_matches_in_heads_and_near_misses(parts: list[bytes]) -> None:
    content = b"".join(parts)
    assert _spans(_object_heads(content)) == _spans(_OBJECT_HEAD.finditer(content))


def test_heads_are_the_patterns_matches_in_every_pdf_we_have() -> None:
    image = Image.frombytes("RGB", (300, 400), bytes(range(256)) * 1406 + bytes(96))
    scan = io.BytesIO()
    image.save(scan, "PDF")
    pdfs = [scan.getvalue(), files.plain_pdf(), files.encrypted_pdf(), active.pdf_with_javascript()]
    pdfs += [p.read_bytes() for p in sorted(CORPUS.rglob("*.pdf"))]
    assert sum(len(_spans(_OBJECT_HEAD.finditer(pdf))) for pdf in pdfs) > 0
    for pdf in pdfs:
        assert _spans(_object_heads(pdf)) == _spans(_OBJECT_HEAD.finditer(pdf))


def test_javascript_hidden_in_a_compressed_object_stream_is_still_found() -> None:
    assert "pdf_javascript" in pdf_active(active.pdf_with_javascript_in_object_stream())


def test_heads_are_the_patterns_matches_with_a_stream_just_within_and_just_beyond_reach() -> None:
    for gap in (4095, 4096, 4097, 5000):
        for pad in (b"x", b" "):
            content = b"%PDF-1.4\n12 0 obj" + pad * gap + b"stream\n" + b"3 0 obj<<>>stream\r\nx"
            assert _spans(_object_heads(content)) == _spans(_OBJECT_HEAD.finditer(content))


class CountingPattern:
    def __init__(self) -> None:
        self.tries = 0

    def match(self, content: bytes, at: int) -> object:
        self.tries += 1
        return _OBJECT_HEAD.match(content, at)


def test_bare_obj_keywords_with_no_stream_in_reach_are_not_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PDF of bare `1 0 obj` lines cost 45 us a line (4.5 s for 800 KB) when each was tried
    against the pattern's 4096-byte reach; no stream in reach means no try at all."""
    from mailintake_quarantine.adapters import active_pdf

    counting = CountingPattern()
    monkeypatch.setattr(active_pdf, "_OBJECT_HEAD", counting)
    hostile = b"%PDF-1.4\n" + b"1 0 obj\n" * 100_000 + b"x" * 5000 + b"2 0 obj<<>>stream\nx"
    assert len(list(active_pdf._object_heads(hostile))) == 1
    assert counting.tries == 1
    assert pdf_active(b"%PDF-1.4\n" + b"1 0 obj\n" * 100_000) == set()
