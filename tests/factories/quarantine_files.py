"""Files the quarantine tests build themselves: archives, executables, media, disguises.

Each builder returns bytes that libmagic recognises for what they are, made in memory.
"""

from __future__ import annotations

import gzip
import io
import struct
import subprocess
import tarfile
import tempfile
import wave
import zipfile
import zlib
from email.message import EmailMessage
from pathlib import Path

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def zip_of(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return out.getvalue()


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return out.getvalue()


def sparse_tar(name: str, size: int) -> bytes:
    """A GNU tar holding one sparse file of `size` bytes (holes, then one block of text): a few
    kilobytes that a reader expands to the whole size of zeros. Made by GNU tar (`--sparse`),
    since Python's tarfile reads sparse members but cannot write them."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, name)
        with path.open("wb") as handle:
            handle.truncate(size - 512)
            handle.seek(size - 512)
            handle.write(b"end of a very long letter ".ljust(512, b"."))
        subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", "out.tar", name], cwd=tmp, check=True)
        return Path(tmp, "out.tar").read_bytes()


def gzip_of(content: bytes) -> bytes:
    return gzip.compress(content)


def _patch_zip_headers(data: bytes, flag_bits: int = 0, method: int | None = None) -> bytearray:
    patched = bytearray(data)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = 0
        while (at := patched.find(signature, start)) != -1:
            flags = struct.unpack_from("<H", patched, at + flag_at)[0] | flag_bits
            struct.pack_into("<H", patched, at + flag_at, flags)
            if method is not None:
                struct.pack_into("<H", patched, at + method_at, method)
            start = at + 4
    return patched


def zipcrypto_zip() -> bytes:
    """A ZIP whose members carry the traditional-encryption flag (as password tools write it)."""
    return bytes(_patch_zip_headers(zip_of({"statement.pdf": b"%PDF-1.4 secret"}), flag_bits=0x1))


def aes_zip() -> bytes:
    """A ZIP whose members use WinZip AES (method 99) with the encryption flag."""
    return bytes(_patch_zip_headers(zip_of({"statement.pdf": b"%PDF-1.4 secret"}), flag_bits=0x1, method=99))


def encrypted_7z(header_encryption: bool = False) -> bytes:
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password="secret", header_encryption=header_encryption) as szf:
        szf.writestr(b"private letter", "letter.txt")
    return out.getvalue()


def plain_7z(files: dict[str, bytes]) -> bytes:
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as szf:
        for name, content in files.items():
            szf.writestr(content, name)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def plain_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(with_macros: bool = False) -> bytes:
    files = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
        "word/document.xml": b'<?xml version="1.0"?><w:document/>',
    }
    if with_macros:
        files["word/vbaProject.bin"] = b"\xd0\xcf\x11\xe0 macro storage"
    return zip_of(files)


def wav_audio() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 8000)
    return out.getvalue()


def mp4_video() -> bytes:
    ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"isom", 512) + b"isomiso2"
    return ftyp + struct.pack(">I4s", 16, b"mdat") + b"\x00" * 8


def windows_exe() -> bytes:
    dos = bytearray(b"MZ" + b"\x90\x00" * 29 + b"\x00" * 2)
    dos[0x3C:0x40] = struct.pack("<I", 0x80)
    dos = dos.ljust(0x80, b"\x00")
    pe = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)
    optional = struct.pack("<H", 0x10B).ljust(0xE0, b"\x00")
    return bytes(dos) + pe + optional + b"\x00" * 512


def linux_elf() -> bytes:
    header = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 2, 0x3E, 1)
    return header.ljust(64, b"\x00") + b"\x00" * 256


def macho() -> bytes:
    return struct.pack("<IiiIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0) + b"\x00" * 256


def windows_shortcut() -> bytes:
    return b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F" + b"\x00" * 60


def iso_image() -> bytes:
    return b"\x00" * 0x8001 + b"CD001\x01" + b"\x00" * 2048


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` (pixel data is a stub: never decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 64


def small_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (40, 40), 255).save(out, format="PNG")
    return out.getvalue()


def email_with(attachments: list[tuple[str, bytes, str]], body: str = "Please see attached.", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.pop("sender", "Parent <parent@example.org>")
    msg["To"] = "edc@agency.example"
    msg["Subject"] = headers.pop("subject", "Documents")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    for filename, content, media_type in attachments:
        maintype, subtype = media_type.split("/", 1)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


# Archive bombs (issue 15): small on disk, gigabytes when expanded ---------------------------


def deflated_zeros(total: int, chunk: int = 1024 * 1024) -> bytes:
    """A raw DEFLATE stream of `total` zero bytes, built without ever holding them: each chunk is
    compressed after a full flush, so every chunk after the first compresses to the same bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(chunk)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    steady = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    return first + steady * (total // chunk - 1) + packer.flush()


def raw_zip(members: list[tuple[str, bytes, int]]) -> bytes:
    """A ZIP of already-deflated members (name, deflate stream, expanded size). The CRCs are not
    computed (that would mean expanding them): nothing may ever read that far."""
    local_part, central = bytearray(), bytearray()
    for name, deflated, size in members:
        encoded = name.encode()
        offset = len(local_part)
        local_part += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(deflated), size, len(encoded), 0)
        local_part += encoded + deflated
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0,
            0,
            len(deflated),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local_part), 0)
    return bytes(local_part + central + end)


def nested_zip_bomb(inner_bytes: int = 4000 * 1024 * 1024) -> bytes:
    """A zip holding a zip holding `inner_bytes` of zeros (about 4 GB by default, in some 10 KB)."""
    inner = raw_zip([("zeros.bin", deflated_zeros(inner_bytes), inner_bytes)])
    return zip_of({"statement.zip": inner})


class _Zeros(io.BufferedIOBase):
    """A readable, seekable stream of `size` zero bytes that never holds them."""

    def __init__(self, size: int) -> None:
        self.size, self.at = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.at

    def seek(self, offset: int, whence: int = 0) -> int:
        self.at = offset if whence == 0 else self.at + offset if whence == 1 else self.size + offset
        return self.at

    def read(self, n: int | None = -1) -> bytes:
        n = self.size - self.at if n is None or n < 0 else min(n, self.size - self.at)
        self.at += max(n, 0)
        return bytes(max(n, 0))


def sevenzip_bomb(members: int = 64, member_bytes: int = 64 * 1024 * 1024) -> bytes:
    """A solid 7z whose first member is 64 KiB that do not compress, followed by `members` files
    of zeros (4 GiB by default, in about 200 KB). The headers give a compressed size only for the
    first member of a solid block (the whole block's), so that member looks ordinary; every other
    member is small enough on its own; and py7zr, asked for one member, extracts them all."""
    import random

    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", filters=[{"id": py7zr.FILTER_ZSTD}]) as szf:
        szf.writestr(random.Random(15).randbytes(64 * 1024), "cover.jpg")
        for number in range(members):
            szf.writef(_Zeros(member_bytes), f"scan_{number:03d}.tif")
    return out.getvalue()
