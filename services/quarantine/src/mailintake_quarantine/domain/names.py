"""What file names and declared types say, and when they disagree with the content.

Names and declared types are the sender's word: they never decide a type, but a dangerous
extension, a disguise (`invoice.pdf.exe`, a right-to-left override) or a declared type that
disagrees with the sniffed one is a finding in itself (SPEC 5).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import PurePosixPath

EXECUTABLE_EXTS = frozenset(
    [
        ".exe",
        ".dll",
        ".scr",
        ".com",
        ".cpl",
        ".sys",
        ".drv",
        ".ocx",
        ".pif",
        ".so",
        ".dylib",
        ".elf",
        ".app",
        ".run",
    ]
)
SCRIPT_EXTS = frozenset(
    [
        ".bat",
        ".cmd",
        ".ps1",
        ".psm1",
        ".psd1",
        ".vbs",
        ".vbe",
        ".js",
        ".jse",
        ".wsf",
        ".wsh",
        ".wsc",
        ".hta",
        ".sh",
        ".bash",
        ".zsh",
        ".csh",
        ".ksh",
        ".py",
        ".pyw",
        ".pl",
        ".rb",
        ".php",
        ".jar",
        ".msc",
        ".reg",
        ".scf",
        ".sct",
        ".command",
        ".applescript",
        ".lua",
        ".awk",
    ]
)
SHORTCUT_EXTS = frozenset([".lnk", ".url", ".desktop", ".webloc", ".library-ms", ".searchconnector-ms"])
DISK_IMAGE_EXTS = frozenset([".iso", ".img", ".vhd", ".vhdx", ".vmdk", ".dmg", ".udf", ".wim"])
INSTALLER_EXTS = frozenset(
    [
        ".msi",
        ".msp",
        ".mst",
        ".msix",
        ".msixbundle",
        ".appx",
        ".appxbundle",
        ".pkg",
        ".mpkg",
        ".deb",
        ".rpm",
        ".apk",
        ".cab",
    ]
)
DANGEROUS_EXTS = EXECUTABLE_EXTS | SCRIPT_EXTS | SHORTCUT_EXTS | DISK_IMAGE_EXTS | INSTALLER_EXTS
DOCUMENT_EXTS = frozenset(
    [
        ".pdf",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".ppt",
        ".pptx",
        ".rtf",
        ".txt",
        ".csv",
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".tif",
        ".tiff",
        ".bmp",
        ".heic",
        ".odt",
        ".ods",
        ".zip",
        ".htm",
        ".html",
        ".eml",
        ".msg",
        ".xml",
        ".json",
    ]
)

# Bidirectional controls that can make "exe.pdf" display for "fdp.exe" and similar.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")

# Type families: a declared type or extension is compatible with the sniffed type when their
# families match (or are listed as compatible below). Unknown families never mismatch.
EXT_FAMILY = {
    ".pdf": "pdf",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".tif": "image",
    ".tiff": "image",
    ".bmp": "image",
    ".heic": "image",
    ".webp": "image",
    ".txt": "text",
    ".csv": "text",
    ".json": "text",
    ".xml": "text",
    ".htm": "html",
    ".html": "html",
    ".doc": "ole",
    ".xls": "ole",
    ".ppt": "ole",
    ".msg": "ole",
    ".docx": "ooxml",
    ".xlsx": "ooxml",
    ".pptx": "ooxml",
    ".docm": "ooxml",
    ".xlsm": "ooxml",
    ".odt": "odf",
    ".ods": "odf",
    ".zip": "zip",
    ".7z": "7z",
    ".rar": "rar",
    ".gz": "gzip",
    ".tgz": "gzip",
    ".eml": "email",
    ".rtf": "rtf",
}
COMPATIBLE = {
    frozenset({"text", "html"}),
    frozenset({"ooxml", "zip"}),
    frozenset({"odf", "zip"}),
    frozenset({"email", "text"}),
    frozenset({"rtf", "text"}),
    frozenset({"ole", "ooxml"}),
}


def names_of(filename: str | None) -> list[str]:
    """Every name a system could open this file as, normalised before any extension rule.

    The sender's name is NFKC-folded (full-width dots and letters), stripped of format and
    control characters (bidi overrides, zero-width joiners), cut to its last path component,
    and stripped of the trailing dots and spaces Windows ignores (`invoice.exe.` is an .exe).
    A NUL ends the name for some readers, so the part before it counts too. An NTFS alternate
    data stream (`invoice.pdf:evil.exe`, `:$DATA` types dropped) names both the file and the
    stream. The first name is the file's own.
    """
    folded = unicodedata.normalize("NFKC", filename or "")
    whole = "".join(ch for ch in folded if unicodedata.category(ch) not in ("Cf", "Cc"))
    before_nul = "".join(ch for ch in folded.split("\x00")[0] if unicodedata.category(ch) not in ("Cf", "Cc"))
    found: list[str] = []
    for candidate in (whole, before_nul):
        base = _trimmed(candidate.replace("\\", "/").split("/")[-1])
        base, *streams = base.split(":")
        for name in (base, *streams):
            name = _trimmed(name)
            if name and name.lower() != "$data" and name not in found:
                found.append(name)
    return found


def _trimmed(name: str) -> str:
    return name.strip().rstrip(". ")


@lru_cache(maxsize=256)
def extension(filename: str | None) -> str:
    """The extension of the file's own name, after normalising (see `names_of`)."""
    names = names_of(filename)
    return PurePosixPath(names[0]).suffix.lower() if names else ""


@lru_cache(maxsize=256)
def extensions(filename: str | None) -> frozenset[str]:
    """The extensions of every name the file could be opened as (its own and any stream's).
    Every rule asks this of every part's name (a dozen times a part), so answers are kept."""
    return frozenset(PurePosixPath(name).suffix.lower() for name in names_of(filename)) - {""}


def named_as(filename: str | None, kinds: frozenset[str]) -> bool:
    return bool(extensions(filename) & kinds)


# Sniffed content that is never a document, whatever it is declared or named as: a document
# declared or named as PDF, image, text... that turns out to be one of these is a mismatch.
PROGRAM_MIMES = frozenset(
    {
        "application/x-dosexec",
        "application/x-msdownload",
        "application/vnd.microsoft.portable-executable",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-mach-binary",
        "application/x-elf",
    }
)


def mime_family(mime: str | None) -> str | None:
    """The document family a media type belongs to, or None when it names no family we compare
    (e.g. application/octet-stream, which claims nothing)."""
    if not mime:
        return None
    mime = mime.split(";")[0].strip().lower()
    if mime in PROGRAM_MIMES:
        return "program"
    if mime.startswith(("audio/", "video/")):
        return mime.split("/", 1)[0]
    if mime == "application/pdf":
        return "pdf"
    if mime.startswith("image/"):
        return "image"
    if mime in ("text/html", "application/xhtml+xml"):
        return "html"
    if mime in ("text/rtf", "application/rtf"):
        return "rtf"
    if mime in ("message/rfc822",):
        return "email"
    if mime.startswith("text/") or mime in ("application/json", "application/xml", "application/csv"):
        return "text"
    if mime in (
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/x-ole-storage",
        "application/cdfv2",
        "application/vnd.ms-outlook",
    ):
        return "ole"
    if mime.startswith("application/vnd.openxmlformats-officedocument") or (
        mime.startswith("application/vnd.ms-") and ("macroenabled" in mime)
    ):
        return "ooxml"
    if mime.startswith("application/vnd.oasis.opendocument"):
        return "odf"
    return {
        "application/zip": "zip",
        "application/x-7z-compressed": "7z",
        "application/x-rar": "rar",
        "application/vnd.rar": "rar",
        "application/gzip": "gzip",
        "application/x-gzip": "gzip",
    }.get(mime)


def families_disagree(claimed: str | None, sniffed: str | None) -> bool:
    if claimed is None or sniffed is None or claimed == sniffed:
        return False
    return frozenset({claimed, sniffed}) not in COMPATIBLE


def has_bidi_control(filename: str | None) -> bool:
    return any(ch in BIDI_CONTROLS for ch in filename or "")


def is_double_extension(filename: str | None) -> bool:
    """`invoice.pdf.exe`: a document extension followed by a dangerous one (spaces ignored),
    in any name the file could be opened as."""
    for name in names_of(filename):
        suffixes = [s.lower().strip() for s in PurePosixPath(name).suffixes]
        if len(suffixes) >= 2 and suffixes[-1] in DANGEROUS_EXTS and any(s in DOCUMENT_EXTS for s in suffixes[:-1]):
            return True
    return False
