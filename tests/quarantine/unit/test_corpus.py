"""Every hostile or odd file in the shared corpus gets a verdict, and none crashes screening."""

from __future__ import annotations

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
