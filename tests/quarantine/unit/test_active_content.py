"""Active content is possible harmful content (seed 001 line 64; SPEC 5; issue 15): held, with
the reason, and never released. Ordinary letters, forms and HTML mail stay clear."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailintake_quarantine.domain.findings import Finding
from tests.factories import active_documents as active
from tests.factories import office_documents as office
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import rules, screen_attachment, screen_email

HARMFUL: list[tuple[str, Callable[[], bytes], str]] = [
    ("letter.docx", active.docx_with_dde_field, "dde"),
    ("letter.docx", active.docx_with_remote_template, "external_link"),
    ("letter.docx", lambda: active.docx_with_embedded_package(office.word97_doc(["packaged file"])), "ole_object"),
    ("letter.docx", lambda: active.docx_with_part("word/media/update.exe", files.windows_exe()), "embedded_program"),
    (
        "letter.docx",
        lambda: active.docx_with_part("word/media/image2.png", files.zip_of({"a.exe": b"MZ"})),
        "ole_object",
    ),
    (
        "letter.docx",
        lambda: active.docx_with_chart(active.xlsx_with_dde_link(office.xlsx({"Payments": [["July", 410]]}))),
        "dde",
    ),
    ("letter.docx", lambda: active.docx_with_chart(office.word97_doc(["not a workbook"])), "ole_object"),
    ("payments.xlsx", lambda: active.xlsx_with_dde_link(office.xlsx({"Payments": [["July", 410]]})), "dde"),
    ("letter.odt", lambda: active.odt_with_basic_macro(office.odt(["Dear officer"])), "office_macro"),
    ("summary.pdf", active.pdf_with_javascript, "pdf_javascript"),
    ("summary.pdf", active.pdf_with_hidden_javascript_name, "pdf_javascript"),
    ("summary.pdf", active.pdf_with_javascript_in_object_stream, "pdf_javascript"),
    ("summary.pdf", active.pdf_with_launch, "pdf_launch"),
    ("summary.pdf", active.pdf_submitting_on_open, "pdf_auto_action"),
    ("summary.pdf", active.pdf_with_embedded_file, "pdf_embedded_file"),
    ("invoice.html", lambda: active.HTML_WITH_SCRIPT, "html_script"),
    ("statement.htm", lambda: active.HTML_WITH_HANDLER, "html_script"),
    ("statement.html", lambda: active.HTML_WITH_SCRIPT_URL, "html_script"),
    ("logo.svg", lambda: active.SVG_WITH_ONLOAD, "svg_script"),
    ("logo.svg", lambda: active.SVG_WITH_SCRIPT, "svg_script"),
    ("rates.csv", lambda: b"name,amount\nJuly,=cmd|' /C calc'!A0\n", "dde"),
    ("rates.slk", lambda: b'ID;PWXL;N;E\nC;X1;Y1;EEXEC("calc")\nE\n', "sylk"),
    ("letter.rtf", active.rtf_with_embedded_object, "ole_object"),  # was cleared: the RTF check never ran
    ("letter.rtf", active.rtf_with_dde_field, "dde"),
]


@pytest.mark.parametrize(("name", "build", "rule"), HARMFUL, ids=[f"{r}-{n}" for n, _, r in HARMFUL])
def test_active_content_is_held_as_harmful_with_the_reason(name: str, build: Callable[[], bytes], rule: str) -> None:
    """seed 001 line 64: possible harmful content is quarantined and never released."""
    result = screen_attachment(name, build())
    assert result.verdict == "quarantined", rules(result)
    found = [f for f in result.findings if f.rule == rule]
    assert found, rules(result)
    assert (
        found[0].reason == "harmful" and found[0].part == "attachment 1" and found[0].detail.startswith("attachment 1 ")
    )
    assert [c.kind for c in result.cleared] == []  # nothing of a held attachment is opened downstream


def test_a_plain_rtf_letter_is_clear() -> None:
    result = screen_attachment("letter.rtf", active.rtf_letter())
    assert result.verdict == "clear", rules(result)


def test_active_content_inside_an_archive_holds_the_item() -> None:
    """SPEC 5: anything inside an archive that would itself be quarantined holds the item."""
    archive = files.zip_of({"letters/reply.docx": active.docx_with_dde_field(), "notes.txt": b"see attached"})
    result = screen_attachment("letters.zip", archive)
    assert result.verdict == "quarantined"
    assert Finding("attachment 1 / member 1", "dde", "attachment 1 / member 1 " + _detail("dde")) in result.findings


def _detail(code: str) -> str:
    from mailintake_quarantine.domain.active import ACTIVE_CONTENT

    return ACTIVE_CONTENT[code]


ORDINARY: list[tuple[str, Callable[[], bytes]]] = [
    ("letter.docx", active.letter_docx),
    ("letter.docx", active.docx_with_hyperlink),
    ("letter.docx", active.docx_with_local_template),
    ("letter.docx", lambda: active.docx_with_chart(office.xlsx({"Payments": [["July", 410], ["August", 430]]}))),
    ("payments.xlsx", lambda: office.xlsx({"Payments": [["July", 410], ["Total", "=SUM(B1:B1)"]]})),
    ("letter.odt", lambda: office.odt(["Dear officer, my address has changed."])),
    ("summary.pdf", active.pdf_letter),
    ("summary.pdf", active.pdf_opening_at_page_one),
    ("form.pdf", active.pdf_form_with_fields),
    ("message.html", lambda: active.HTML_BODY_WITH_STYLES),
    ("logo.svg", lambda: active.SVG_LOGO),
    ("rates.csv", lambda: b"month,amount,note\nJuly,410,-paid late\nAugust,=410+20,\n"),
]


@pytest.mark.parametrize(("name", "build"), ORDINARY, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ORDINARY)])
def test_ordinary_documents_stay_clear(name: str, build: Callable[[], bytes]) -> None:
    result = screen_attachment(name, build())
    assert result.verdict == "clear", [f.as_dict() for f in result.findings]
    assert [c.kind for c in result.cleared] == ["attachment"]


def test_an_html_email_body_with_inline_styles_is_cleared() -> None:
    raw = files.email_with([("letter.docx", active.letter_docx(), "application/octet-stream")], body="See the letter.")
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    message.get_body(("plain",)).add_alternative(active.HTML_BODY_WITH_STYLES.decode(), subtype="html")  # type: ignore[union-attr]
    result = screen_email(message.as_bytes())
    assert result.verdict == "clear", [f.as_dict() for f in result.findings]
    assert [c.kind for c in result.cleared] == ["text_body", "html_body", "attachment"]


def test_an_html_attachment_named_as_text_is_still_checked_as_html() -> None:
    """An HTML file named as text is still HTML when its declared type says so."""
    result = screen_attachment("statement.txt", active.HTML_WITH_SCRIPT, "text/html")
    assert "html_script" in rules(result)


def test_dde_split_over_runs_is_found_by_the_package_walk_even_without_msodde() -> None:
    """msodde gives up on XML it cannot parse; the package walk reads field codes itself."""
    from mailintake_quarantine.adapters.active_office import _container

    assert _container(active.docx_with_dde_field(split_keyword=True)) == {"dde"}
    assert _container(active.letter_docx()) == set()
