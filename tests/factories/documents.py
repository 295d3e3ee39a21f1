"""Builders for submissions the tests post: emails, scans and web forms.

Everything is made here, in memory, so each test says exactly what it sends.
"""

from __future__ import annotations

import base64
import io
import uuid
from email.message import EmailMessage

from PIL import Image, ImageDraw


def email_bytes(
    subject: str = "Change of address",
    body: str = "Please update my address.",
    sender: str = "parent@example.org",
    message_id: str | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "edc@agency.example"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@example.org>"
    msg.set_content(body)
    for filename, content, media_type in attachments or []:
        maintype, subtype = media_type.split("/", 1)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def forwarded_email(
    inner_attachments: list[tuple[str, bytes, str]],
    inner_body: str = "Here is the document.",
    body: str = "Forwarding this on.",
    subject: str = "Fwd: documents",
    as_eml_file: bool = False,
    sender: str = "parent@example.org",
) -> bytes:
    """An email forwarding another email (message/rfc822, or an attached .eml file) that has
    attachments of its own."""
    inner = EmailMessage()
    inner["From"] = "someone@example.net"
    inner["To"] = sender
    inner["Subject"] = "documents"
    inner.set_content(inner_body)
    for filename, content, media_type in inner_attachments:
        maintype, subtype = media_type.split("/", 1)
        inner.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    outer = EmailMessage()
    outer["From"] = sender
    outer["To"] = "edc@agency.example"
    outer["Subject"] = subject
    outer["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    outer.set_content(body)
    if as_eml_file:
        outer.add_attachment(inner.as_bytes(), maintype="application", subtype="octet-stream", filename="fwd.eml")
    else:
        outer.add_attachment(inner)
    return outer.as_bytes()


def page_image(text: str = "Child support letter", fmt: str = "PNG", size: tuple[int, int] = (850, 1100)) -> bytes:
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).text((80, 100), text, fill=0)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def multipage_tiff(pages: int = 3) -> bytes:
    frames = [Image.new("L", (850, 1100), 255) for _ in range(pages)]
    for number, frame in enumerate(frames, start=1):
        ImageDraw.Draw(frame).text((80, 100), f"Page {number} of {pages}", fill=0)
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def webform(form_type: str = "contact_us", attachments: list[tuple[str, bytes]] | None = None) -> dict[str, object]:
    return {
        "form_type": form_type,
        "submitted_at": "2026-11-20T10:15:00+11:00",
        "fields": {"message": "Please call me about my assessment."},
        "attachments": [
            {"filename": name, "content_base64": base64.b64encode(content).decode()}
            for name, content in attachments or []
        ],
    }
