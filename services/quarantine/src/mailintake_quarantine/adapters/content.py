"""Reading facts from bytes: libmagic type, encryption, macros, image headers.

Nothing here decodes pixels, renders a page or runs anything: it reads headers and
container directories only. Every reader is defensive: hostile input makes it return
"unknown", never raise (the caller records what could not be read).
"""

from __future__ import annotations

import io
import re
import struct
import threading
import warnings
import zipfile
from contextlib import suppress

import magic
import olefile
from PIL import Image

from mailintake_quarantine.adapters.active_markup import markup_active
from mailintake_quarantine.adapters.active_office import office_active
from mailintake_quarantine.adapters.active_pdf import pdf_active
from mailintake_quarantine.domain.rules import EICAR, SCRIPT_MARKERS, PartFacts

_local = threading.local()
Image.init()  # every format plugin registered once, at import, not from screening threads
# Set once here: `warnings.catch_warnings` in screening threads would race on the global filters.
warnings.filterwarnings("ignore", module=r"(PIL|pypdf)(\..*)?$")


def sniff(content: bytes) -> tuple[str, str]:
    """(mime type, description) from libmagic; one handle per thread (libmagic is not thread-safe)."""
    if not hasattr(_local, "mime"):
        _local.mime = magic.Magic(mime=True)
        _local.desc = magic.Magic()
    head = content[: 4 * 1024 * 1024]
    try:
        return str(_local.mime.from_buffer(head)), str(_local.desc.from_buffer(head))
    except Exception:
        return "application/octet-stream", "unknown"


def pdf_encrypted(content: bytes) -> bool:
    """An /Encrypt entry in a trailer (classic or cross-reference stream) means encrypted."""
    tail = content[-65536:] if len(content) > 131072 else content
    if b"/Encrypt" in tail:
        return True
    try:
        from pypdf import PdfReader

        return bool(PdfReader(io.BytesIO(content), strict=False).is_encrypted)
    except Exception:
        return b"/Encrypt" in content


def office_encrypted(content: bytes) -> bool:
    """Encrypted OOXML (an OLE container with EncryptedPackage) or legacy .doc/.xls/.ppt encryption."""
    if not olefile.isOleFile(io.BytesIO(content)):
        return False
    try:
        with olefile.OleFileIO(io.BytesIO(content)) as ole:
            if ole.exists("EncryptedPackage") or ole.exists("EncryptionInfo"):
                return True
    except Exception:
        return False
    try:
        import msoffcrypto

        return bool(msoffcrypto.OfficeFile(io.BytesIO(content)).is_encrypted())
    except Exception:
        return False


def has_macros(content: bytes) -> bool:
    """OOXML with a vbaProject part or Excel 4 macro sheets, or an OLE document with VBA."""
    if content[:4] == b"PK\x03\x04":
        with suppress(Exception), zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = [n.lower() for n in zf.namelist()]
            return any(n.endswith("vbaproject.bin") or "/macrosheets/" in n or _odf_macro(n) for n in names)
        return False
    if olefile.isOleFile(io.BytesIO(content)):
        with suppress(Exception), olefile.OleFileIO(io.BytesIO(content)) as ole:
            streams = {"/".join(entry).lower() for entry in ole.listdir(streams=True, storages=True)}
            if any(n.endswith(("_vba_project", "vba/dir")) or n.startswith("macros") for n in streams):
                return True
        return _olevba_finds_macros(content)  # PowerPoint keeps VBA inside its document stream
    return False


ODF_LIBRARY_INDEXES = ("script-lc.xml", "script-lb.xml", "dialog-lc.xml", "dialog-lb.xml")


def _odf_macro(name: str) -> bool:
    """An OpenDocument Basic module or a script (Python, JavaScript, BeanShell) in the package."""
    if name.startswith("scripts/"):
        return not name.endswith("/")
    return name.startswith("basic/") and not name.endswith(("/", *ODF_LIBRARY_INDEXES))


def _olevba_finds_macros(content: bytes) -> bool:
    try:
        from oletools.olevba import VBA_Parser

        parser = VBA_Parser("attachment", data=content)
        try:
            return bool(parser.detect_vba_macros() or parser.detect_xlm_macros())
        finally:
            parser.close()
    except Exception:
        return False


_DIMENSIONS = re.compile(r"(\d{1,7}) ?x ?(\d{1,7})")
_WIDTH = re.compile(r"width=(\d{1,7})")
_HEIGHT = re.compile(r"height=(\d{1,7})")


def _described_pixels(description: str) -> int | None:
    """The largest width x height libmagic's description mentions. A description can hold
    other "AxB" pairs (a JPEG's "density 1x1" comes before its "20000x20000"), so the
    largest is taken: over-estimating only refuses an image, under-estimating would decode a bomb."""
    candidates = [int(w) * int(h) for w, h in _DIMENSIONS.findall(description)]
    width, height = _WIDTH.search(description), _HEIGHT.search(description)
    if width and height:
        candidates.append(int(width.group(1)) * int(height.group(1)))
    return max(candidates) if candidates else None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _header_pixels(content: bytes) -> int | None:
    """PNG's IHDR read directly (it must be the first chunk, so a damaged tail cannot hide it);
    otherwise the header as Pillow's format plugins read it (JPEG SOF, TIFF tags, GIF frames),
    no pixels decoded. The plugins are called directly rather than through `Image.open`, whose
    decompression-bomb check would refuse exactly the images we need to measure: that keeps
    Pillow's process-wide `MAX_IMAGE_PIXELS` untouched (other threads rely on it) and leaves
    the decision to `rules.image_size`."""
    if content.startswith(_PNG_SIGNATURE) and content[12:16] == b"IHDR" and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return int(width) * int(height)
    prefix = content[:16]
    for fmt in list(Image.ID):
        factory, accept = Image.OPEN[fmt]
        try:
            accepted = not accept or accept(prefix)
            if not accepted or isinstance(accepted, str):
                continue
            with factory(io.BytesIO(content), "") as image:
                width, height = image.size
            return int(width) * int(height)
        except Image.DecompressionBombError as bomb:  # some plugins check frames themselves
            said = _BOMB_PIXELS.search(str(bomb))
            return int(said.group(1)) if said else 2 * int(Image.MAX_IMAGE_PIXELS or 0) + 1
        except Exception:
            continue
    return None


_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def image_pixels(content: bytes, description: str = "") -> int | None:
    """Width x height from the image header only: the larger of libmagic's reading and PIL's
    lazy header parse (no pixels are decoded either way); None when neither can tell."""
    found = [n for n in (_described_pixels(description), _header_pixels(content)) if n is not None]
    return max(found) if found else None


def part_facts(label: str, content: bytes, filename: str | None, declared_type: str | None) -> PartFacts:
    mime, description = sniff(content)
    encrypted = None
    if mime == "application/pdf" and pdf_encrypted(content):
        encrypted = "encrypted_pdf"
    elif office_encrypted(content):
        encrypted = "encrypted_office"
    lowered = content[:65536].lower()
    active: set[str] = set()
    if not encrypted:
        active = office_active(content, mime, filename) | markup_active(content, mime, filename, declared_type)
        if b"%PDF-" in content[:1024]:
            active |= pdf_active(content)
    return PartFacts(
        label=label,
        filename=filename,
        declared_type=declared_type,
        size=len(content),
        sniffed_type=mime,
        sniffed_description=description,
        encrypted=encrypted,
        macros=has_macros(content) if mime not in ("application/pdf",) and not mime.startswith("image/") else False,
        eicar=EICAR in content,
        image_pixels=image_pixels(content, description) if mime.startswith("image/") else None,
        script_marker=mime.startswith("text/") and any(m in lowered for m in SCRIPT_MARKERS),
        active=tuple(sorted(active)),
    )
