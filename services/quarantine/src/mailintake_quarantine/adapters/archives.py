"""Listing and reading archives (ZIP, 7z, RAR, tar, gzip) under limits.

Only ZIP, 7z, tar and gzip members are read (each capped at the remaining expansion budget, so
a bomb that lies about sizes still stops). RAR is listed from its headers (encryption flags);
reading RAR content would need the non-free unrar program, so an unencrypted RAR's members are
reported unreadable and the caller quarantines it as unscreenable.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Callable

from mailintake_quarantine.domain.contents import Archive, Member

ARCHIVE_TYPES = {
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/x-7z-compressed": "7z",
    "application/x-rar": "rar",
    "application/vnd.rar": "rar",
    "application/x-tar": "tar",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
}


def archive_kind(mime: str, content: bytes) -> str | None:
    kind = ARCHIVE_TYPES.get(mime)
    if kind == "zip" and _is_office_container(content):
        return None  # OOXML/ODF documents are zips but are screened as documents
    return kind


def _is_office_container(content: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = set(zf.namelist())
    except Exception:
        return False
    return "[Content_Types].xml" in names or "mimetype" in names


def open_archive(kind: str, content: bytes) -> Archive:
    try:
        return {"zip": _zip, "7z": _sevenzip, "rar": _rar, "tar": _tar, "gzip": _gzip}[kind](content)
    except Exception as exc:  # hostile or damaged: nothing inside can be screened
        return Archive(kind, unreadable=f"the {kind} archive could not be opened ({type(exc).__name__})")


def _zip(content: bytes) -> Archive:
    zf = zipfile.ZipFile(io.BytesIO(content))
    archive = Archive("zip")
    for info in zf.infolist():
        if info.is_dir():
            continue
        if info.flag_bits & 0x1 or info.compress_type == 99:  # ZipCrypto, or WinZip AES
            archive.encrypted = True

        def read(at_most: int, info: zipfile.ZipInfo = info) -> bytes:
            with zf.open(info) as handle:
                return handle.read(at_most)

        archive.members.append(Member(info.filename, info.file_size, info.compress_size, read))
    return archive


def _sevenzip(content: bytes) -> Archive:
    """7z: encrypted content or headers are detected without a password; members are
    extracted lazily (only when the caller, having checked declared sizes, reads one)."""
    import py7zr
    from py7zr.io import BytesIOFactory

    archive = Archive("7z")
    try:
        with py7zr.SevenZipFile(io.BytesIO(content)) as szf:
            if szf.needs_password():
                archive.encrypted = True
                return archive
            infos = [i for i in szf.list() if not i.is_directory]
    except py7zr.exceptions.PasswordRequired:
        archive.encrypted = True
        return archive
    extracted: dict[str, bytes] = {}

    def read_member(name: str, at_most: int) -> bytes:
        if not extracted:
            factory = BytesIOFactory(at_most)
            with py7zr.SevenZipFile(io.BytesIO(content)) as szf:
                szf.extractall(factory=factory)
            for filename, product in factory.products.items():
                product.seek(0)
                extracted[filename] = product.read()
        return extracted.get(name, b"")[:at_most]

    def reader(name: str) -> Callable[[int], bytes]:
        return lambda at_most: read_member(name, at_most)

    for info in infos:
        archive.members.append(
            Member(info.filename, info.uncompressed or 0, info.compressed or 0, reader(info.filename))
        )
    return archive


def _rar3_encrypted(content: bytes) -> bool:
    """RAR 1.5-4.x block headers: archive flag 0x80 (encrypted headers) or file flag 0x04 (password)."""
    at = 7  # after the marker block
    while at + 7 <= len(content):
        head_type = content[at + 2]
        flags = int.from_bytes(content[at + 3 : at + 5], "little")
        size = int.from_bytes(content[at + 5 : at + 7], "little")
        if (head_type == 0x73 and flags & 0x80) or (head_type == 0x74 and flags & 0x04):
            return True
        if size < 7:
            return False
        add = int.from_bytes(content[at + 7 : at + 11], "little") if flags & 0x8000 else 0
        at += size + add
    return False


def _rar(content: bytes) -> Archive:
    import rarfile

    archive = Archive("rar")
    if content.startswith(b"Rar!\x1a\x07\x00") and _rar3_encrypted(content):
        archive.encrypted = True
        return archive
    with rarfile.RarFile(io.BytesIO(content)) as rf:
        if rf.needs_password():
            archive.encrypted = True
            return archive
        for info in rf.infolist():
            if info.is_dir():
                continue
            if info.needs_password():
                archive.encrypted = True
            archive.members.append(Member(info.filename, info.file_size, info.compress_size, None))
    archive.unreadable = "RAR content cannot be read here (no free RAR decoder), so it cannot be screened"
    return archive


def _tar(content: bytes) -> Archive:
    tf = tarfile.open(fileobj=io.BytesIO(content))  # noqa: SIM115 - members are read later
    archive = Archive("tar")
    for info in tf.getmembers():
        if not info.isfile():
            continue

        def read(at_most: int, info: tarfile.TarInfo = info) -> bytes:
            handle = tf.extractfile(info)
            return handle.read(at_most) if handle else b""

        archive.members.append(Member(info.name, info.size, info.size, read))
    return archive


def _gzip(content: bytes) -> Archive:
    def read(at_most: int) -> bytes:
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as handle:
            return handle.read(at_most)

    return Archive("gzip", members=[Member(None, 0, len(content), read)])
