"""Property-based tests (hypothesis): the MIME walker, identifier extraction, the at-risk filter."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailintake_classifier.domain.at_risk import find_at_risk
from mailintake_classifier.domain.identifiers import TFN_MASK, abn_valid, find_abns, find_crns, mask_tfns, tfn_valid
from mailintake_quarantine.adapters.inspector import ContentInspector
from mailintake_quarantine.domain.screening import InputPart, screen_item
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import LIMITS

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VERDICTS = {"clear", "manual_adjustment", "quarantined"}
BASE_EMAIL = files.email_with(
    [("a.pdf", files.plain_pdf(), "application/pdf"), ("b.zip", files.zip_of({"x": b"1"}), "application/zip")]
)


# -- the MIME walker ----------------------------------------------------------------------


@FAST
@given(st.binary(max_size=4000))
def test_any_bytes_screen_to_a_verdict_without_raising(raw: bytes) -> None:
    result = screen_item([InputPart("p0", "raw_email", raw)], ContentInspector(), LIMITS)
    assert result.verdict in VERDICTS


@FAST
@given(st.lists(st.tuples(st.integers(0, len(BASE_EMAIL) - 1), st.binary(min_size=0, max_size=8)), max_size=12))
def test_a_damaged_email_still_gets_a_verdict(edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(BASE_EMAIL)
    for at, replacement in edits:
        raw[at : at + len(replacement)] = replacement
    result = screen_item([InputPart("p0", "raw_email", bytes(raw))], ContentInspector(), LIMITS)
    assert result.verdict in VERDICTS


@FAST
@given(
    st.text(alphabet="QXZJKVWqxzjkvw", min_size=8, max_size=20),  # letters that spell no word of a detail
    st.sampled_from([".pdf.exe", ".exe", ".txt", ".js", ".pdf"]),
)
def test_findings_never_quote_the_file_name(name: str, extension: str) -> None:
    result = screen_item(
        [InputPart("p1", "attachment", files.windows_exe(), name + extension, None)], ContentInspector(), LIMITS
    )
    assert result.verdict == "quarantined"
    assert all(name not in f.detail and name not in f.part for f in result.findings)


# -- identifiers --------------------------------------------------------------------------


def with_separators(digits: str, rng: random.Random) -> str:
    return "".join(ch + (rng.choice(["", " ", "-"]) if i in (2, 5) else "") for i, ch in enumerate(digits))


@FAST
@given(
    st.text(alphabet="0123456789", min_size=9, max_size=9),
    st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"),
    st.integers(0, 2**32),
)
def test_a_crn_is_found_whatever_its_spacing(digits: str, letter: str, seed: int) -> None:
    text = f"Dear sir, my reference is {with_separators(digits, random.Random(seed))}{letter}. Thanks"
    assert find_crns(text) == [digits + letter]


def make_abn(body: str) -> str | None:
    """The ABN whose last 9 digits are `body`, if two leading digits make the checksum hold."""
    for prefix in range(10, 100):
        candidate = f"{prefix}{body}"
        if abn_valid(candidate):
            return candidate
    return None


@FAST
@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_valid_abns_are_found_and_a_changed_digit_is_rejected(body: str) -> None:
    abn = make_abn(body)
    assume(abn is not None)
    assert abn is not None
    spaced = f"{abn[:2]} {abn[2:5]} {abn[5:8]} {abn[8:]}"
    assert find_abns(f"ABN {spaced} applies") == [abn]
    broken = abn[:-1] + str((int(abn[-1]) + 1) % 10)
    assert find_abns(f"ABN {broken}") == ([] if not abn_valid(broken) else [broken])


@FAST
@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.text(max_size=60))
def test_no_valid_tfn_survives_masking(first8: str, noise: str) -> None:
    tfn = next((first8 + d for d in "0123456789" if tfn_valid(first8 + d)), None)
    assume(tfn is not None)
    assert tfn is not None
    masked = mask_tfns(f"{noise} my TFN is {tfn[:3]} {tfn[3:6]} {tfn[6:]} {noise}")
    assert TFN_MASK in masked and f"{tfn[:3]} {tfn[3:6]} {tfn[6:]}" not in masked
    assert mask_tfns(masked) == masked  # idempotent


# -- the at-risk filter -------------------------------------------------------------------

PHRASES = ["I want to end it all", "he threatened to kill me", "I will kill myself", "I'm going to hurt him"]


@FAST
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300),
    st.sampled_from(PHRASES),
    st.text(alphabet=" .,;!\n", min_size=1, max_size=3),
)
def test_an_at_risk_phrase_is_found_anywhere_and_offsets_point_at_it(before: str, phrase: str, gap: str) -> None:
    text = before + gap + phrase.upper() + gap
    matches = find_at_risk(text)
    assert matches
    for m in matches:
        assert text[m.offset : m.offset + len(m.phrase)] == m.phrase


@FAST
@given(st.text(max_size=2000))
def test_the_filter_never_raises_on_any_text(text: str) -> None:
    for m in find_at_risk(text):
        assert 0 <= m.offset < len(text)
