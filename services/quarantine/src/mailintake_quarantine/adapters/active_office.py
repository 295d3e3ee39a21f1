"""Active content in Office files: DDE, embedded OLE objects and packages, ActiveX, external
templates and links, SYLK sheets, DDE formulas in CSV (issue 15; codes in domain/active.py).

OOXML and ODF containers are walked entry by entry (their declared sizes were checked by
screening before this runs, and zipfile never reads past a declared size); relationship parts
are parsed without entities or network. oletools does what it knows best: msodde finds DDE
fields in Word, Excel and RTF documents, oleobj finds OLE objects inside PowerPoint records.
Anything that cannot be parsed adds nothing here: the other rules still apply to the file.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import suppress
from pathlib import PurePosixPath

import olefile
from lxml import etree

from mailintake_quarantine.domain.names import DANGEROUS_EXTS, named_as

OLE_MAGIC = olefile.MAGIC
PROGRAM_HEADS = (b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"#!")
EXTERNAL_OK_TYPES = ("/hyperlink",)  # a link the reader must click is not fetched on opening
MACRO_PARTS = ("vbaproject.bin", "vbadata.xml", "vbaprojectsignature.bin", "vbaprojectsignatureagile.bin")
ODF_ACTIVE_TAGS = {"applet", "plugin", "object-ole"}
ODF_DDE_TAGS = {"dde-connection-decl", "dde-link", "dde-source", "dde-connection"}
FORMULA_START = re.compile(r'^\s*"?[=+\-@]')
SYLK_EXTS = frozenset({".slk", ".sylk"})
CSV_EXTS = frozenset({".csv", ".tsv"})
PACKAGE_HEADS = (b"PK\x03\x04", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\x1f\x8b")
MAX_CHART_NESTING = 2  # a chart's workbook may hold a chart with its own workbook, and no deeper
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
WORD_TEXT_PART = re.compile(r"^word/(document|header\d*|footer\d*|footnotes|endnotes|comments|glossary/document)\.xml$")
DDE_FIELD = re.compile(r"\bDDE(AUTO)?\b", re.IGNORECASE)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)

for _name in ("olevba", "msodde", "oleobj", "ooxml", "xls_parser", "ppt_record_parser"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)


def office_active(content: bytes, mime: str, filename: str | None, depth: int = 0) -> set[str]:
    """Active-content codes for an Office document, RTF, SYLK sheet or CSV; empty for anything else.
    `depth` counts the Office packages this one is embedded in (a chart's workbook)."""
    found: set[str] = set()
    if content.startswith(b"ID;") or (named_as(filename, SYLK_EXTS) and not content.startswith(b"PK")):
        found.add("sylk")
    if content.startswith(b"PK\x03\x04") and _is_office_zip(content):
        found |= _container(content, depth)
        found |= _msodde(content)
    elif content.startswith(OLE_MAGIC):
        found |= _ole(content)
    elif content[:64].lstrip().startswith(b"{\\rt"):  # Word opens "{\rt" without the "f1"
        if re.search(rb"\\objdata|\\objemb|\\objlink|\\objautlink", content):
            found.add("ole_object")
        found |= _msodde(content)
    elif _is_csv(mime, filename) and _csv_has_dde(content):
        found.add("dde")
    return found


def _is_csv(mime: str, filename: str | None) -> bool:
    return mime.startswith("text/") and (mime == "text/csv" or named_as(filename, CSV_EXTS))


def _is_office_zip(content: bytes) -> bool:
    with suppress(Exception), zipfile.ZipFile(io.BytesIO(content)) as zf:
        names = set(zf.namelist())
        return "[Content_Types].xml" in names or "mimetype" in names
    return False


def _container(content: bytes, depth: int = 0) -> set[str]:
    found: set[str] = set()
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            chart_data = _chart_data_parts(zf, infos)
            for info in infos:
                try:
                    found |= _entry(zf, info, chart_data, depth)
                except Exception:  # one damaged part must not hide the parts after it
                    continue
    except Exception:
        return found
    return found


def _chart_workbook(data: bytes, depth: int) -> set[str]:
    """A chart's data workbook is data when it is a plain package with nothing active in it; a
    macro project, an OLE workbook or anything active inside makes it an embedded object."""
    if depth >= MAX_CHART_NESTING or not data.startswith(b"PK\x03\x04") or not _is_office_zip(data):
        return {"ole_object"}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if any(n.lower().endswith(MACRO_PARTS) for n in zf.namelist()):
            return {"ole_object"}
    return office_active(data, "", None, depth + 1)


def _entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, chart_data: set[str], depth: int = 0) -> set[str]:
    name = info.filename
    lowered = name.lower()
    if lowered.endswith(MACRO_PARTS) or info.flag_bits & 0x1:
        return set()  # macros are their own rule; an encrypted entry is the encryption rule's
    if "/activex/" in f"/{lowered}":
        return {"activex"}
    with zf.open(info) as handle:
        head = handle.read(8)
    if head == OLE_MAGIC:
        return {"ole_object"}
    if head.startswith(PROGRAM_HEADS) or named_as(name, DANGEROUS_EXTS):
        return {"embedded_program"}
    if "/embeddings/" in f"/{lowered}":
        return _chart_workbook(zf.read(info), depth) if name in chart_data else {"ole_object"}
    if head.startswith(PACKAGE_HEADS):
        return {"ole_object"}  # an archive or package tucked among the document's own parts
    if lowered.endswith(".rels"):
        return _relationships(zf.read(info))
    if WORD_TEXT_PART.match(lowered):
        return _word_fields(zf.read(info))
    if "/externallinks/" in f"/{lowered}" and lowered.endswith(".xml"):
        return _external_link_part(zf.read(info))
    if lowered in ("content.xml", "styles.xml") or lowered.endswith("/content.xml"):
        return _odf_body(zf.read(info))
    return set()


def _external_link_part(data: bytes) -> set[str]:
    """An Excel external link part: a DDE link runs another program, an OLE link loads an object."""
    found = set()
    if re.search(rb"<(\w+:)?ddeLink\b", data):
        found.add("dde")
    if re.search(rb"<(\w+:)?oleLink\b", data):
        found.add("external_link")
    return found


def _word_fields(data: bytes) -> set[str]:
    """DDE in a Word part's field codes, read here as well as by msodde (which gives up on XML it
    cannot parse): the instructions of every field, joined as Word joins runs split by a sender."""
    with suppress(etree.XMLSyntaxError, ValueError):
        root = etree.fromstring(data, _PARSER)
        if root is None:
            return set()
        codes = [e.text or "" for e in root.iter("{*}instrText")]
        codes += [e.get(f"{{{W_NS}}}instr", "") for e in root.iter("{*}fldSimple")]
        if DDE_FIELD.search("".join(codes)):
            return {"dde"}
    return set()


def _chart_data_parts(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> set[str]:
    """Workbooks embedded as a chart's data (a Word or PowerPoint chart): data, not objects."""
    parts: set[str] = set()
    for info in infos:
        if "/charts/_rels/" not in info.filename:
            continue
        base = PurePosixPath(info.filename).parent.parent
        for rel_type, target, mode in _rels(zf.read(info)):
            if rel_type.endswith("/package") and mode != "External":
                joined = target.lstrip("/") if target.startswith("/") else str(base / target)
                parts.add(os.path.normpath(joined).replace(os.sep, "/"))
    return parts


def _rels(data: bytes) -> Iterator[tuple[str, str, str]]:
    with suppress(etree.XMLSyntaxError, ValueError):
        root = etree.fromstring(data, _PARSER)
        for rel in root.iter("{*}Relationship") if root is not None else ():
            yield rel.get("Type", ""), rel.get("Target", ""), rel.get("TargetMode", "")


def _relationships(data: bytes) -> set[str]:
    for rel_type, target, mode in _rels(data):
        if mode != "External" or rel_type.endswith(EXTERNAL_OK_TYPES):
            continue
        if rel_type.endswith("/attachedTemplate") and _local_path(target):
            continue  # Word records the local template a letter was written from
        return {"external_link"}
    return set()


def _local_path(target: str) -> bool:
    """`file:///C:/Users/.../Letter.dotx` or `C:\\...`: a drive on the reader's own machine."""
    path = target.strip()
    if path.lower().startswith("file:///"):
        path = path[8:]
    return bool(re.match(r"^[A-Za-z]:[\\/]", path))


def _odf_body(data: bytes) -> set[str]:
    found: set[str] = set()
    with suppress(etree.XMLSyntaxError, ValueError):
        root = etree.fromstring(data, _PARSER)
        for element in root.iter() if root is not None else ():
            if not isinstance(element.tag, str):
                continue
            local = element.tag.rsplit("}", 1)[-1]
            if local in ODF_DDE_TAGS:
                found.add("dde")
            elif local in ODF_ACTIVE_TAGS:
                found.add("ole_object")
            href = element.get("{http://www.w3.org/1999/xlink}href")
            if href and local in ("object", "object-ole", "section-source", "table-source") and _outside(href):
                found.add("external_link")
    return found


def _outside(href: str) -> bool:
    """An ODF link that leaves the package: a URL, a UNC path or a path above the package."""
    href = href.strip()
    return bool(re.match(r"^([a-z][a-z0-9+.-]*:|//|\\\\|\.\./)", href, re.IGNORECASE))


def _ole(content: bytes) -> set[str]:
    found: set[str] = set()
    with suppress(Exception), olefile.OleFileIO(io.BytesIO(content)) as ole:
        for path in ole.listdir(streams=True, storages=True):
            top = path[0].lower()
            if (
                (top == "objectpool" and len(path) > 1)
                or top.startswith("mbd")
                or "\x01ole10native" in (p.lower() for p in path)
            ):
                found.add("ole_object")
    found |= _msodde(content)
    found |= _ppt_objects(content)
    return found


def _ppt_objects(content: bytes) -> set[str]:
    """PowerPoint keeps embedded objects inside its record stream; oleobj knows where."""
    try:
        from oletools.oleobj import find_ole_in_ppt
        from oletools.ppt_record_parser import is_ppt

        if not is_ppt(content):
            return set()
        with _as_file(content) as path:
            for ole in find_ole_in_ppt(path):
                if ole is not None:
                    return {"ole_object"}
    except Exception:
        return set()
    return set()


def _msodde(content: bytes) -> set[str]:
    """DDE fields and links as oletools' msodde finds them (Word, Excel, RTF)."""
    try:
        from oletools import msodde

        with _as_file(content) as path:
            links = msodde.process_file(path, field_filter_mode=msodde.FIELD_FILTER_DDE)
    except Exception:
        return set()
    return {"dde"} if links and links.strip() else set()


class _as_file:
    """The bytes as a private temporary file, removed afterwards (msodde reads paths)."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.path = ""

    def __enter__(self) -> str:
        handle, self.path = tempfile.mkstemp(prefix="mailintake-", suffix=".bin")
        with os.fdopen(handle, "wb") as out:
            out.write(self.content)
        return self.path

    def __exit__(self, *_: object) -> None:
        with suppress(OSError):
            os.unlink(self.path)


def _csv_has_dde(content: bytes) -> bool:
    text = content[: 4 * 1024 * 1024].decode("utf-8", errors="replace")
    for line in text.splitlines():
        for cell in [line, *re.split(r"[,;\t]", line)]:
            if FORMULA_START.match(cell) and "|" in cell and "!" in cell[cell.index("|") :]:
                return True  # =cmd|' /c calc'!A0: a formula that asks another program for data
    return False
