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
    # compressed or archive formats not opened here: they cannot be screened, so they are held
    **dict.fromkeys(
        (
            "application/x-bzip2",
            "application/x-xz",
            "application/x-lzma",
            "application/zstd",
            "application/x-zstd",
            "application/x-compress",
            "application/x-lzip",
            "application/x-lz4",
            "application/x-lzh-compressed",
            "application/x-arj",
            "application/x-ace-compressed",
            "application/x-cpio",
            "application/x-archive",
            "application/x-stuffit",
            "application/x-lrzip",
        ),
        "other",
    ),
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
    if kind == "other":
        return Archive(
            kind, unreadable="this compressed or archive format is not opened here, so it cannot be screened"
        )
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
    """7z: encrypted content or headers are detected without a password; the member list and
    declared sizes come from the headers alone. py7zr extracts every member when asked for one,
    so nothing is extracted until screening has checked all the declared sizes, and then each
    member is written to a buffer that refuses a byte beyond what it declared (a lying header
    stops the decoder there instead of filling memory)."""
    import py7zr

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
    declared = {info.filename: info.uncompressed or 0 for info in infos}
    extracted: dict[str, bytes] | None = None

    def read_member(name: str, at_most: int) -> bytes:
        nonlocal extracted
        if extracted is None:
            factory = _CappedFactory(declared)
            try:
                with py7zr.SevenZipFile(io.BytesIO(content)) as szf:
                    szf.extractall(factory=factory)
            except _OverDeclared:
                pass  # the member that overflowed holds one byte more than it declared
            extracted = {n: w.getvalue() for n, w in factory.products.items()}
        return extracted.get(name, b"")[:at_most]

    def reader(name: str) -> Callable[[int], bytes]:
        return lambda at_most: read_member(name, at_most)

    for info in infos:
        archive.members.append(
            Member(info.filename, info.uncompressed or 0, info.compressed or 0, reader(info.filename))
        )
    return archive


class _OverDeclared(Exception):
    """A 7z member produced more bytes than its header declared."""


class _CappedWriter:
    """py7zr's writer interface over an in-memory buffer that takes one byte more than declared."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = io.BytesIO()

    def write(self, data: bytes | bytearray) -> int:
        room = self.limit + 1 - self.buffer.tell()
        self.buffer.write(bytes(data[: max(room, 0)]))
        if len(data) > room:
            raise _OverDeclared
        return len(data)

    def read(self, size: int | None = None) -> bytes:
        return self.buffer.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buffer.seek(offset, whence)

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return len(self.buffer.getbuffer())

    def close(self) -> None:
        return None  # py7zr calls this after each member; the bytes are kept for screening

    def getvalue(self) -> bytes:
        return self.buffer.getvalue()


class _CappedFactory:
    """py7zr's writer factory: one capped in-memory buffer per member, sized by its declaration."""

    def __init__(self, declared: dict[str, int]) -> None:
        self.declared = declared
        self.products: dict[str, _CappedWriter] = {}

    def create(self, filename: str) -> _CappedWriter:
        self.products[filename] = _CappedWriter(self.declared.get(filename, 0))
        return self.products[filename]

    def get(self, filename: str) -> _CappedWriter:
        return self.products[filename]


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
    """One member whose declared size is the trailer's ISIZE (the size modulo 4 GiB: a larger
    stream reads past its declaration and is caught there)."""

    def read(at_most: int) -> bytes:
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as handle:
            return handle.read(at_most)

    declared = int.from_bytes(content[-4:], "little") if len(content) >= 18 else 0
    return Archive("gzip", members=[Member(None, declared, len(content), read)])


def container_parts(content: bytes) -> list[Member]:
    """An Office document's zip entries with their declared sizes (nothing is decompressed)."""
    if not content.startswith(b"PK\x03\x04") or not _is_office_container(content):
        return []
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return [Member(i.filename, i.file_size, i.compress_size, None) for i in zf.infolist() if not i.is_dir()]
