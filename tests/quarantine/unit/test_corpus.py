"""Every hostile or odd file in the shared corpus gets a verdict, and none crashes screening."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.quarantine.unit.conftest import rules, screen_attachment, screen_email

CORPUS = Path(__file__).resolve().parents[2] / "corpus"  # a copy of the workplace corpus, with its LICENSES
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and "LICENSES" not in p.parts and p.name != "SOURCES.md")


def test_the_corpus_is_there() -> None:
    assert len(FILES) > 100


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_file_gets_a_verdict(path: Path) -> None:
    content = path.read_bytes()
    as_attachment = screen_attachment(path.name, content)
    assert as_attachment.verdict in ("clear", "manual_adjustment", "quarantined")
    if path.suffix in (".eml", ".txt", ".msg") or "email" in path.parts[-2]:
        assert screen_email(content).verdict in ("clear", "manual_adjustment", "quarantined")


@pytest.mark.parametrize(
    "name",
    [
        "msoffcrypto-tool/example_password.docx",
        "msoffcrypto-tool/rc4cryptoapi_password.doc",
        "msoffcrypto-tool/xor_password_123456789012345.xls",
        "msoffcrypto-tool/example_password.xlsx",
        "oletools/encrypted.doc",
    ],
)
def test_encrypted_office_documents_in_the_corpus_are_quarantined(name: str) -> None:
    assert "encrypted_office" in rules(screen_attachment(Path(name).name, (CORPUS / name).read_bytes()))


@pytest.mark.parametrize(
    "name",
    [
        "rarfile/rar5-psw.rar",
        "rarfile/rar5-hpsw.rar",
        "rarfile/rar3-comment-psw.rar",
        "py7zr/encrypted_1.7z",
        "py7zr/filename_encryption.7z",
    ],
)
def test_encrypted_archives_in_the_corpus_are_quarantined(name: str) -> None:
    assert "encrypted_archive" in rules(screen_attachment(Path(name).name, (CORPUS / name).read_bytes()))


@pytest.mark.parametrize(
    "name", ["oletools/sample_with_vba.ppt", "oletools/excel4_sample_macro.xlsm", "oletools/oleform-PR314.docm"]
)
def test_office_documents_with_macros_in_the_corpus_are_quarantined(name: str) -> None:
    result = screen_attachment(Path(name).name, (CORPUS / name).read_bytes())
    assert result.verdict == "quarantined", [f.rule for f in result.findings]


# Every active-content sample in SOURCES.md, with the rule that must hold it (issue 15).
ACTIVE_SAMPLES = {
    "oletools/dde-test.docx": "dde",
    "oletools/dde-in-csv.csv": "dde",
    "oletools/embedded-simple-2007.docx": "ole_object",
    "oletools/sample_with_lnk_file.doc": "ole_object",
    "oletools/sample_with_external_link_to_doc.docx": "external_link",
    "oletools/excel4_sample_macro.slk": "sylk",
    "oletools/excel4_sample_macro.xls": "office_macro",
    "oletools/excel4_sample_macro.xlsm": "office_macro",
    "oletools/sample_with_vba.ppt": "office_macro",
    "oletools/oleform-PR314.docm": "office_macro",
    "oletools/autostart-encrypt-standardpassword.xlsm": "encrypted_office",
    "oletools/dde-test-from-office2003.doc.zip": "encrypted_archive",
    "oletools/issue_185.rtf.zip": "encrypted_archive",
    "pypdf/attachment.pdf": "pdf_embedded_file",
}
ACTIVE_WORDS = re.compile(
    r"\bdde\b|macro|embedded ole|external (relationship|link)|\bxlm\b|sylk|javascript|fileattachment|\bvba\b"
    r"|rtf object|activex|\bjs\b",
    re.IGNORECASE,
)


def _listed_active_samples() -> set[str]:
    """Rows of SOURCES.md whose description names active content."""
    found = set()
    for line in (CORPUS / "SOURCES.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and "/" in cells[1] and ACTIVE_WORDS.search(cells[5]):
            found.add(cells[1])
    return found


def test_every_active_content_sample_of_the_corpus_is_listed_here() -> None:
    listed = _listed_active_samples()
    assert len(listed) >= 12
    assert listed <= set(ACTIVE_SAMPLES), sorted(listed - set(ACTIVE_SAMPLES))


@pytest.mark.parametrize(("name", "rule"), sorted(ACTIVE_SAMPLES.items()))
def test_every_active_content_sample_in_the_corpus_is_held(name: str, rule: str) -> None:
    """seed 001 line 64: possible harmful content is quarantined, with the reason."""
    result = screen_attachment(Path(name).name, (CORPUS / name).read_bytes())
    assert result.verdict == "quarantined"
    assert rule in rules(result), rules(result)
