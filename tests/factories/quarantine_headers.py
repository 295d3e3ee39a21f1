"""Files built from their headers alone, for the quarantine tests: images that declare their size
(JPEG SOF, TIFF tags), RAR 1.5-4 archives with password or header-encryption flags, encrypted
OOXML, gzip written on a FAT file system. Nothing here needs a tool outside the test environment.
"""

from __future__ import annotations

import gzip
import io
import struct


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, JFIF APP0 (density 1x1), baseline SOF0 declaring width x height, EOI: no scan data."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def tiff_header(width: int, height: int) -> bytes:
    """A little-endian TIFF whose first IFD declares width x height, with no strip data."""
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 0),
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, 0),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def rar3(*, password: bool = False, encrypted_headers: bool = False) -> bytes:
    """A RAR 1.5-4.x archive: marker, main header (0x80 = encrypted headers), one file header
    (0x04 = password-protected) with ten bytes of stored data."""
    marker = b"Rar!\x1a\x07\x00"
    main = struct.pack("<HBHH", 0, 0x73, 0x80 if encrypted_headers else 0, 13) + b"\0" * 6
    name = b"letter.txt"
    body = struct.pack("<IIBIIBBHI", 10, 10, 0, 0, 0, 20, 0x30, len(name), 0x20) + name
    flags = 0x8000 | (0x04 if password else 0)
    file_header = struct.pack("<HBHH", 0, 0x74, flags, 7 + len(body)) + body
    return marker + main + file_header + b"x" * 10


def encrypted_ooxml(plain_docx: bytes, password: str = "secret") -> bytes:
    """The given .docx encrypted the way Office does it (an OLE container with EncryptedPackage)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(plain_docx)).encrypt(password, out)
    return out.getvalue()


def gzip_from_fat(content: bytes) -> bytes:
    """gzip whose header names the FAT file system (libmagic then says "MS-DOS" in its description)."""
    data = bytearray(gzip.compress(content))
    data[9] = 0  # OS byte: FAT
    return bytes(data)
