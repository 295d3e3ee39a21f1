"""Turning cleared content into plain text without running anything: HTML, form fields."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bs4 import BeautifulSoup


@dataclass(frozen=True)
class Section:
    """One readable piece of an item, tagged with where it came from, so reasons can say
    "attachment statement.docx, paragraph 2" rather than an offset into a joined text. Here, not
    in classify.py, so the workers that read parts do not import the whole domain (issue 18)."""

    source: str  # "subject", "body 1", "form fields", "attachment 1 letters.zip / note.txt" ...
    text: str


DROP_TAGS = ("script", "style", "head", "noscript", "template", "object", "embed", "iframe")


def html_to_text(html: str) -> str:
    """Visible text of an HTML body; scripts and styles are dropped, nothing is fetched or run."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(DROP_TAGS):
        tag.decompose()
    text = soup.get_text("\n")
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def form_fields_to_text(raw: bytes) -> tuple[list[tuple[str, str]], str | None]:
    """([(field name, "name: value")], form_type) of a web form's stored fields.

    Each field is its own piece, so the at-risk detector reads a message field on its own (not run
    together with the name and reference fields) and a passage names the field it came from."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return [("", raw.decode("utf-8", errors="replace"))], None
    fields = data.get("fields", {}) if isinstance(data, dict) else {}
    pieces = [(str(name), f"{name}: {value}") for name, value in fields.items() if isinstance(value, str)]
    return pieces, data.get("form_type") if isinstance(data, dict) else None
