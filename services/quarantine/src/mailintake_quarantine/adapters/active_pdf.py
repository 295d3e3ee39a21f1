"""Active content in PDFs: JavaScript, Launch actions, embedded files, and actions a viewer runs
by itself on opening or viewing (OpenAction, AA) (issue 15; codes in domain/active.py).

PDF names can be written with `#xx` escapes (`/J#61vaScript`) and objects can hide inside
compressed object streams, so names are read from the raw bytes and from every FlateDecode
object stream (decompressed under a byte budget), escapes undone. An OpenAction or AA is only
harmful when what it runs is: a viewer going to page 1 is what most PDFs do. When the names
say an automatic trigger and a running action are both present, pypdf resolves the triggers
to decide; when it cannot, the PDF is held (fail closed).
"""

from __future__ import annotations

import io
import logging
import re
import zlib
from collections.abc import Iterator
from typing import Any

OBJSTM_BUDGET_BYTES = 64 * 1024 * 1024  # most bytes of object streams decompressed per PDF
MAX_PAGES_RESOLVED = 2000
RUNNING = frozenset(
    {
        b"JavaScript",
        b"JS",
        b"Launch",
        b"SubmitForm",
        b"ImportData",
        b"GoToR",
        b"GoToE",
        b"URI",
        b"Rendition",
        b"RichMediaExecute",
        b"Movie",
        b"Sound",
    }
)
_NAME = re.compile(rb"/([^\s/<>\[\]()%{}]+)")
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# Bounded repeats only: a PDF padded with millions of digits must not make this quadratic.
_OBJECT_HEAD = re.compile(
    rb"(?<![0-9])[0-9]{1,10}[ \t\r\n]{1,8}[0-9]{1,5}[ \t\r\n]{1,8}obj\b(.{0,4096}?)\bstream\r?\n", re.DOTALL
)

# Where a head's `stream` keyword can be: a head's match needs one within 4096 bytes of its `obj`.
_STREAM = re.compile(rb"\bstream\r?\n")
_HEAD_REACH = 4096 + len(b"obj")

_HEAD_SPACE = frozenset(b" \t\r\n")
_DIGITS = frozenset(b"0123456789")

logging.getLogger("pypdf").setLevel(logging.ERROR)


def pdf_active(content: bytes) -> set[str]:
    names = _names(content)
    found: set[str] = set()
    if b"JavaScript" in names or b"JS" in names:
        found.add("pdf_javascript")
    if b"Launch" in names:
        found.add("pdf_launch")
    if names & {b"EmbeddedFile", b"EmbeddedFiles", b"FileAttachment", b"RichMedia"}:
        found.add("pdf_embedded_file")
    if names & {b"OpenAction", b"AA"} and names & RUNNING and _trigger_runs(content):
        found.add("pdf_auto_action")
    return found


def _names(content: bytes) -> set[bytes]:
    names = _names_in(content)
    budget = OBJSTM_BUDGET_BYTES
    for head in _object_heads(content):
        dictionary = _names_in(head.group(1))
        if b"ObjStm" not in dictionary or b"FlateDecode" not in dictionary or budget <= 0:
            continue
        inflater = zlib.decompressobj()
        try:
            expanded = inflater.decompress(content[head.end() :], budget)
        except zlib.error:
            continue
        budget -= len(expanded)
        names |= _names_in(expanded)
    return names


def _object_heads(content: bytes) -> Iterator[re.Match[bytes]]:
    """What `_OBJECT_HEAD.finditer(content)` finds, found from each `obj` keyword instead.

    The pattern starts with a digit, so the regex engine tries it at every byte: 18 ms for a 1 MB
    scan (issue 18). A head's start is fixed by its `obj`: the maximal runs of spaces, digits,
    spaces and digits just before it (the pattern's bounded repeats and its look-behind accept
    nothing shorter or longer), so each `obj` has one candidate start, tried with the same pattern.
    The pattern is only tried where a `stream` keyword it could end at is within reach, so an
    `obj` without one costs nothing: a PDF of a million bare `1 0 obj` lines took 45 us a line.
    """
    after = 0  # the end of the last head found: heads do not overlap
    stream = -1  # the next place `_STREAM` matches at or after the current `obj`
    at = content.find(b"obj")
    while at != -1:
        if stream < at + len(b"obj"):
            found = _STREAM.search(content, at + len(b"obj"))
            if found is None:
                return  # no head can end anywhere further on
            stream = found.start()
        start = _head_start(content, at) if at and content[at - 1] in _HEAD_SPACE else None
        if start is not None and start >= after and stream - at <= _HEAD_REACH:
            head = _OBJECT_HEAD.match(content, start)
            if head is not None:
                yield head
                after = head.end()
        at = content.find(b"obj", max(at + 1, after))


def _head_start(content: bytes, at: int) -> int | None:
    """Where `<number> <generation> obj` would start for the `obj` at `at`, or None."""
    end: int | None = at
    for chars, most in ((_HEAD_SPACE, 8), (_DIGITS, 5), (_HEAD_SPACE, 8), (_DIGITS, 10)):
        end = _run_start(content, end, chars, most) if end is not None else None
    return end


def _run_start(content: bytes, end: int, chars: frozenset[int], most: int) -> int | None:
    """The start of the maximal run of `chars` that ends at `end`, when it is 1 to `most` long."""
    start = end
    while start > 0 and content[start - 1] in chars and end - start <= most:
        start -= 1
    return start if 0 < end - start <= most else None


def _names_in(data: bytes) -> set[bytes]:
    return {_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw) for raw in _NAME.findall(data)}


def _trigger_runs(content: bytes) -> bool:
    """Whether an OpenAction or AA (document, page, annotation or form field) runs something."""
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(content), strict=False)
        root = _resolved(reader.trailer["/Root"])
        if _action_runs(root.get("/OpenAction")):
            return True
        additional: list[object] = [root.get("/AA")]
        for number, page in enumerate(reader.pages):
            if number >= MAX_PAGES_RESOLVED:
                return True  # too many to resolve: held rather than guessed
            additional.append(page.get("/AA"))
            for annotation in _resolved(page.get("/Annots")) or []:
                additional.append(_resolved(annotation).get("/AA"))
        for field in (reader.get_fields() or {}).values():
            additional.append(field.get("/AA"))
        triggers = [aa for aa in map(_resolved, additional) if isinstance(aa, dict)]
        return any(_action_runs(action) for aa in triggers for action in aa.values())
    except Exception:
        return True


def _resolved(value: object) -> Any:
    """A pypdf indirect reference resolved to its object; anything else as it is."""
    return value.get_object() if hasattr(value, "get_object") else value


def _action_runs(action: object, depth: int = 0) -> bool:
    """An action dictionary, with its /Next chain, that runs, submits or opens something."""
    action = _resolved(action)
    if depth > 16 or not isinstance(action, dict):
        return False
    kind = action.get("/S")
    if kind is not None and str(kind).lstrip("/").encode() in RUNNING:
        return True
    following = _resolved(action.get("/Next"))
    if isinstance(following, list):
        return any(_action_runs(item, depth + 1) for item in following)
    return _action_runs(following, depth + 1)
