"""Active content in HTML and SVG attachments: script, event handlers, script URLs and embedded
active objects (issue 15; codes in domain/active.py).

The markup is parsed (libxml2 through lxml: entities decoded the way a browser would, never
resolved from outside), so `<svg/onload=...>`, `jav&#x09;ascript:` and upper-case tricks are
seen for what they are. Inline styles, images and links are ordinary mail and stay clear;
`<script type="application/ld+json">` is data, not script. Markup that cannot be parsed is
read with patterns instead (fail closed).
"""

from __future__ import annotations

import re

from lxml import etree, html

from mailintake_quarantine.domain.names import named_as

HTML_EXTS = frozenset({".htm", ".html", ".xhtml", ".xht", ".shtml", ".mht", ".mhtml"})
SVG_EXTS = frozenset({".svg"})
ACTIVE_TAGS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "foreignobject"})
DATA_SCRIPT_TYPES = ("application/ld+json", "application/json", "text/template", "text/x-template")
SCRIPT_URL = re.compile(r"^(javascript|vbscript|livescript|data:text/html)", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\s\x00-\x1f\x7f]+")
_FALLBACK = re.compile(rb"<\s*script|\son[a-z]+\s*=|javascript\s*:|<\s*(iframe|object|embed|applet)", re.IGNORECASE)
_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)


def markup_active(content: bytes, mime: str, filename: str | None, declared: str | None) -> set[str]:
    """`svg_script` or `html_script` when an SVG or HTML file (by content, name or declared
    type) has script; empty for anything else."""
    claimed = (declared or "").split(";")[0].strip().lower()
    head = content[:4096].lower()
    textual = mime.startswith("text/") or mime in ("application/xml", "image/svg+xml")
    is_svg = mime == "image/svg+xml" or claimed == "image/svg+xml" or named_as(filename, SVG_EXTS)
    is_svg = is_svg or (textual and b"<svg" in head)
    is_html = mime in ("text/html", "application/xhtml+xml") or claimed in ("text/html", "application/xhtml+xml")
    is_html = is_html or named_as(filename, HTML_EXTS)
    if not (is_svg or is_html):
        return set()
    code = "svg_script" if is_svg and not is_html else "html_script"
    return {code} if _has_script(content, svg=is_svg and not is_html) else set()


def _has_script(content: bytes, *, svg: bool) -> bool:
    try:
        root = etree.fromstring(content, _XML) if svg else html.document_fromstring(content)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        return _looks_active(content)
    try:
        return any(_element_active(element) for element in root.iter())
    except ValueError:
        return _looks_active(content)


def _looks_active(content: bytes) -> bool:
    """Markup no parser could read, searched with patterns; binary content is no markup at all
    (a browser would not run it), so its bytes are not searched for words."""
    return b"\x00" not in content[:4096] and bool(_FALLBACK.search(content))


def _local(name: str) -> str:
    """`{namespace}tag`, `prefix:tag` or `tag` as a lower-case local name."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _element_active(element: etree._Element) -> bool:
    if not isinstance(element.tag, str):
        return False
    tag = _local(element.tag)
    if tag in ACTIVE_TAGS:
        return not (tag == "script" and (element.get("type") or "").strip().lower().startswith(DATA_SCRIPT_TYPES))
    if tag == "meta" and (element.get("http-equiv") or "").strip().lower() == "refresh":
        return bool(SCRIPT_URL.search(_INVISIBLE.sub("", (element.get("content") or "").split("=", 1)[-1])))
    for name, value in element.attrib.items():
        if _local(name).startswith("on"):
            return True
        if SCRIPT_URL.match(_INVISIBLE.sub("", value)) or "javascript:" in _INVISIBLE.sub("", value).lower():
            return True
    return False
