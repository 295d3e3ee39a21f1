"""Active content: what in a document can act by itself when it is opened (issue 15).

An attachment can be harmful without being a program or carrying macros: a Word field that
runs a command (DDE), an object or package embedded in a document, a template fetched from a
server when the file opens, a SYLK sheet with Excel 4 formulas, a PDF with JavaScript or a
Launch action, an HTML or SVG file with script. The adapters find these (`adapters/active_*`)
and report a code per kind; each code is a quarantine-class rule whose reason is "harmful".
Details name the kind, never the content.
"""

from __future__ import annotations

ACTIVE_CONTENT: dict[str, str] = {
    "dde": "has a DDE field or formula that can start another program",
    "ole_object": "embeds an OLE object or package (a file inside the document that can be opened or run)",
    "activex": "has ActiveX controls",
    "embedded_program": "carries a program or script inside the document package",
    "external_link": "fetches a template, object or frame from outside the document when it is opened",
    "sylk": "is a SYLK spreadsheet, a text format that carries Excel 4 macros",
    "pdf_javascript": "is a PDF with JavaScript",
    "pdf_launch": "is a PDF with a Launch action that can start a program",
    "pdf_auto_action": "is a PDF that acts by itself when opened or viewed "
    "(an OpenAction or AA that runs, submits or opens something)",
    "pdf_embedded_file": "is a PDF with an embedded file",
    "html_script": "is an HTML file with script, event handlers or embedded active objects",
    "svg_script": "is an SVG image with script or event handlers",
}
