"""File names are normalised before any extension rule (issue 15): what Windows or a mail
client would call the file decides, not what it looks like (SPEC 5: double extensions,
disguises). Pure functions first, then the rules on real content."""

from __future__ import annotations

import pytest

from mailintake_quarantine.domain.names import extension, extensions, is_double_extension, names_of
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import rules, screen_attachment


@pytest.mark.parametrize(
    ("name", "own", "every"),
    [
        ("invoice.exe.", ".exe", {".exe"}),  # Windows drops trailing dots
        ("invoice.exe . .  ", ".exe", {".exe"}),  # and trailing spaces
        ("invoice.pdf:evil.exe", ".pdf", {".pdf", ".exe"}),  # NTFS alternate data stream
        ("invoice.pdf:evil.exe:$DATA", ".pdf", {".pdf", ".exe"}),
        ("invoice\u202egpj.exe", ".exe", {".exe"}),  # right-to-left override shows "invoiceexe.jpg"
        ("invoice\u2067.pdf\u2069.exe", ".exe", {".exe"}),  # other bidi isolates
        ("invoice\u200b.e\u200dxe", ".exe", {".exe"}),  # zero-width characters
        ("\uff49\uff4e\uff56\uff4f\uff49\uff43\uff45\uff0e\uff45\uff58\uff45", ".exe", {".exe"}),  # full-width
        ("..\\..\\Startup\\update.bat", ".bat", {".bat"}),  # a path: only the last component
        ("payslip.pdf\x00.exe", ".exe", {".exe", ".pdf"}),  # a NUL ends the name for some readers
        ("July statement.pdf", ".pdf", {".pdf"}),
    ],
)
def test_names_are_normalised_before_their_extensions_are_read(name: str, own: str, every: set[str]) -> None:
    assert extension(name) == own
    assert extensions(name) == every


def test_a_stream_name_is_also_a_name_the_file_can_be_opened_as() -> None:
    assert names_of("invoice.pdf:evil.exe") == ["invoice.pdf", "evil.exe"]
    assert names_of(None) == [] and extensions("") == set()


@pytest.mark.parametrize("name", ["invoice.pdf.exe.", "invoice.pdf\u200b.exe", "statement.docx .scr  "])
def test_double_extensions_survive_disguise(name: str) -> None:
    assert is_double_extension(name)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("invoice.exe.", "executable"),
        ("invoice.exe   ", "executable"),
        ("invoice.pdf:evil.exe", "executable"),
        ("invoice.pdf:run.ps1", "script"),
        ("letter.pdf:link.lnk", "shortcut"),
        ("reply\u202efdp.bat", "script"),
    ],
)
def test_disguised_program_names_are_quarantined_whatever_the_content(name: str, rule: str) -> None:
    """seed 001 line 64: possible harmful content, here by its name alone (a plain PDF inside)."""
    result = screen_attachment(name, files.plain_pdf(), "application/pdf")
    assert result.verdict == "quarantined"
    assert rule in rules(result)


@pytest.mark.parametrize("name", ["July statement.pdf ", "Scan 10:30.pdf", "statement.pdf."])
def test_ordinary_names_with_odd_punctuation_stay_clear(name: str) -> None:
    result = screen_attachment(name, files.plain_pdf(), "application/pdf")
    assert result.verdict == "clear", rules(result)
