"""`mailintake demo`: make a varied sample of correspondence, load a directory, post it all.

Everything is generated here (no files from outside): emails about changes of circumstance,
a court order, an at-risk message, an auto-reply, an encrypted-looking archive and an
oversized attachment; scanned letters (one multi-page, one blank); web forms. The people and
organisations are fictional and exist only in the demo directory.
"""

from __future__ import annotations

import io
import json
import zipfile
from email.message import EmailMessage
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CUSTOMERS = [
    {
        "customer_id": "C-1001",
        "crn": "123456789A",
        "given_name": "Alex",
        "family_name": "Demo",
        "date_of_birth": "1985-04-12",
        "emails": ["alex.demo@example.org"],
        "racs_level": 0,
    },
    {
        "customer_id": "C-1002",
        "crn": "987654321B",
        "given_name": "Sam",
        "family_name": "Sample",
        "date_of_birth": "1990-09-30",
        "emails": ["sam.sample@example.net"],
        "racs_level": 0,
    },
    {
        "customer_id": "C-1003",
        "crn": "555444333C",
        "given_name": "Robin",
        "family_name": "Guarded",
        "date_of_birth": "1979-01-05",
        "emails": ["robin.g@example.com"],
        "racs_level": 2,
    },
]
ORGANISATIONS = [
    {
        "organisation_id": "O-2001",
        "name": "Demo Widgets Pty Ltd",
        "abn": "51824753556",
        "email_domains": ["widgets.example.com"],
        "kind": "employer",
        "secure_messaging": True,
        "in_liquidation": False,
    },
]


def _email(
    sender: str,
    subject: str,
    body: str,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "edc@agency.example", subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, content, media_type in attachments:
        maintype, subtype = media_type.split("/", 1)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def _page(lines: list[str], blank: bool = False) -> Image.Image:
    page = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
    if not blank:
        font = ImageFont.load_default(size=30)
        draw = ImageDraw.Draw(page)
        for row, line in enumerate(lines):
            draw.text((110, 140 + row * 52), line, fill=0, font=font)
    return page


def _save(images: list[Image.Image], fmt: str) -> bytes:
    out = io.BytesIO()
    images[0].save(out, format=fmt, save_all=len(images) > 1, append_images=images[1:])
    return out.getvalue()


def emails() -> dict[str, bytes]:
    court_pdf = _save(
        [
            _page(
                [
                    "FEDERAL CIRCUIT AND FAMILY COURT OF AUSTRALIA",
                    "ORDER",
                    "Child support",
                    "The court orders that the payer pay child support.",
                    "CRN 123456789A",
                ]
            )
        ],
        "PDF",
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("invoice.pdf.exe", b"MZ\x90\x00" + b"\x00" * 200)
    return {
        "change-of-address.eml": _email(
            "alex.demo@example.org",
            "Change of address",
            "Hello, I have moved. My CRN is 123 456 789A. New address from Monday.",
        ),
        "court-order.eml": _email(
            "sam.sample@example.net",
            "Court order attached",
            "Please find the court order attached. CRN 987654321B.",
            [("order.pdf", court_pdf, "application/pdf")],
        ),
        "at-risk.eml": _email(
            "sam.sample@example.net",
            "I can't do this anymore",
            "CRN 987654321B. I can't keep going like this. He said he would make me pay if I ever left.",
        ),
        "auto-reply.eml": _email(
            "someone@widgets.example.com",
            "Automatic reply: your letter",
            "I am out of the office.",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        "harmful-archive.eml": _email(
            "unknown@example.biz", "Invoice", "See attached.", [("invoice.zip", archive.getvalue(), "application/zip")]
        ),
        "oversized.eml": _email(
            "alex.demo@example.org",
            "Photos",
            "CRN 123456789A, photos attached.",
            [("photos.bin", b"\0" * (5 * 1024 * 1024), "application/octet-stream")],
        ),
        "employer.eml": _email(
            "payroll@widgets.example.com",
            "Employer deduction for employee",
            "Employer deduction notice: we have started deductions from wages. ABN 51 824 753 556.",
        ),
    }


def scans() -> dict[str, bytes]:
    letter = [
        "Child Support",
        "Change of circumstances",
        "Customer reference number: 123456789A",
        "I have started a new job and my income has changed.",
        "Alex Demo",
    ]
    multi = [_page([f"Application for child support - page {n} of 3", "CRN 555444333C"]) for n in (1, 2, 3)]
    return {
        "letter.png": _save([_page(letter)], "PNG"),
        "application.tif": _save(multi, "TIFF"),
        "blank.png": _save([_page([], blank=True)], "PNG"),
    }


def webforms() -> dict[str, bytes]:
    forms = {
        "complaint.json": {
            "form_type": "complaint_feedback",
            "submitted_at": "2026-11-23T09:00:00+11:00",
            "fields": {"crn": "987654321B", "message": "Nobody listens. I just want to end it all."},
        },
        "retrieval.json": {
            "form_type": "document_retrieval",
            "submitted_at": "2026-11-23T10:00:00+11:00",
            "fields": {"crn": "123456789A", "request": "Please send me a copy of my assessment."},
        },
        "contact.json": {
            "form_type": "contact_us",
            "submitted_at": "2026-11-23T11:00:00+11:00",
            "fields": {"email": "someone@example.org", "message": "How do I apply for a pension?"},
        },
    }
    return {name: json.dumps(body, indent=2).encode() for name, body in forms.items()}


def write_demo(directory: Path) -> dict[str, list[Path]]:
    """Write the sample into `directory/{emails,scans,webforms}` and the directory JSON files."""
    written: dict[str, list[Path]] = {}
    for kind, files in (("email", emails()), ("scan", scans()), ("webform", webforms())):
        folder = directory / f"{kind}s"
        folder.mkdir(parents=True, exist_ok=True)
        written[kind] = []
        for name, content in files.items():
            (folder / name).write_bytes(content)
            written[kind].append(folder / name)
    (directory / "customers.json").write_text(json.dumps(CUSTOMERS, indent=2))
    (directory / "organisations.json").write_text(json.dumps(ORGANISATIONS, indent=2))
    return written
