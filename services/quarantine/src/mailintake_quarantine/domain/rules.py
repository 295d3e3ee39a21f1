"""The checks every part goes through, as an ordered pipeline of small named rules.

Each check looks at `PartFacts` (what the adapters read from the bytes: sniffed type,
encryption, macros, image header) and returns findings. Adding a rule means adding one
function to `CHECKS`. Details name the part by position and never quote file names or
content: those can be personal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from mailintake_common.events import PartKind
from mailintake_quarantine.domain.active import ACTIVE_CONTENT
from mailintake_quarantine.domain.findings import Finding
from mailintake_quarantine.domain.names import (
    DISK_IMAGE_EXTS,
    EXECUTABLE_EXTS,
    EXT_FAMILY,
    INSTALLER_EXTS,
    SCRIPT_EXTS,
    SHORTCUT_EXTS,
    extension,
    families_disagree,
    has_bidi_control,
    is_double_extension,
    mime_family,
    named_as,
)

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

EXECUTABLE_MIMES = frozenset(
    {
        "application/x-dosexec",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-mach-binary",
        "application/x-elf",
        "application/vnd.microsoft.portable-executable",
        "application/x-object",
        "application/x-coff",
        "application/java-vm",
        "application/x-java-applet",
    }
)
SCRIPT_MIMES = frozenset(
    {
        "text/x-shellscript",
        "application/x-shellscript",
        "text/x-msdos-batch",
        "application/x-bat",
        "text/x-python",
        "text/x-script.python",
        "text/x-perl",
        "text/x-ruby",
        "text/x-php",
        "application/javascript",
        "text/javascript",
        "application/x-java-archive",
        "application/java-archive",
        "text/x-tcl",
        "text/x-lua",
        "application/hta",
        "text/x-powershell",
        "application/x-powershell",
        "text/vbscript",
        "application/x-vbscript",
    }
)
SCRIPT_WORDS = ("script", "batch file", "powershell", "vbscript", "jscript")
# Text content that is a script whatever it is called (HTA, VBScript, PowerShell, batch).
SCRIPT_MARKERS = (
    b"<hta:application",
    b"wscript.shell",
    b"createobject(",
    b"powershell -",
    b"invoke-expression",
    b"new-object system.net.webclient",
    b"@echo off",
    b"#!/bin/sh",
    b"#!/bin/bash",
    b"#!/usr/bin/env",
    # PowerShell, VBScript/JScript and batch idioms that ordinary letters do not contain
    b"wscript.",
    b"activexobject(",
    b"powershell.exe",
    b"set-executionpolicy",
    b"start-process ",
    b"-encodedcommand",
    b"frombase64string(",
    b"downloadstring(",
    b"$env:",
    b"iex (",
    b"cmd.exe /c",
    b"%comspec%",
)
DISK_IMAGE_MIMES = frozenset(
    {
        "application/x-iso9660-image",
        "application/x-apple-diskimage",
        "application/x-raw-disk-image",
        "application/x-virtualbox-vhd",
        "application/x-vhd",
    }
)
INSTALLER_MIMES = frozenset(
    {
        "application/x-msi",
        "application/x-ole-storage+msi",
        "application/vnd.debian.binary-package",
        "application/x-rpm",
        "application/vnd.android.package-archive",
        "application/x-xar",
        "application/vnd.ms-cab-compressed",
    }
)


@dataclass(frozen=True)
class PartFacts:
    """What is known about one part (an attachment, a scan, an archive member)."""

    label: str  # "attachment 2", "scan 1", "attachment 1 / member 3"
    filename: str | None
    declared_type: str | None
    size: int
    sniffed_type: str
    sniffed_description: str
    encrypted: str | None = None  # the rule code when the adapters found encryption
    macros: bool = False
    eicar: bool = False
    image_pixels: int | None = None
    script_marker: bool = False
    active: tuple[str, ...] = ()  # active-content codes (domain/active.py) the adapters found


@dataclass(frozen=True)
class Limits:
    email_bytes: int
    attachment_bytes: int
    max_depth: int
    max_files: int
    max_total_bytes: int
    max_ratio: float
    image_max_pixels: int
    max_member_bytes: int  # the most one archive member may declare or expand to


Check = Callable[[PartFacts, Limits], list[Finding]]


def size(part: PartFacts, limits: Limits) -> list[Finding]:
    if part.size > limits.attachment_bytes:
        return [
            Finding(
                part.label,
                "attachment_over_limit",
                f"{part.label} is {part.size} bytes, over the {limits.attachment_bytes}-byte attachment limit",
            )
        ]
    return []


def encryption(part: PartFacts, _: Limits) -> list[Finding]:
    if part.encrypted:
        return [Finding(part.label, part.encrypted, f"{part.label} is encrypted and cannot be screened or read")]
    return []


def media(part: PartFacts, _: Limits) -> list[Finding]:
    if part.sniffed_type.startswith(("audio/", "video/")):
        kind = part.sniffed_type.split("/")[0]
        return [Finding(part.label, "media", f"{part.label} is {kind} ({part.sniffed_type})")]
    return []


def executable(part: PartFacts, _: Limits) -> list[Finding]:
    desc = part.sniffed_description.lower()
    sniffed = part.sniffed_type in EXECUTABLE_MIMES or any(
        w in desc for w in ("executable", "pe32", "elf ", "mach-o", "shared object")
    )
    if sniffed or named_as(part.filename, EXECUTABLE_EXTS):
        why = f"content is {part.sniffed_type}" if sniffed else "its extension is an executable one"
        return [Finding(part.label, "executable", f"{part.label} is a program or library ({why})")]
    return []


def script(part: PartFacts, _: Limits) -> list[Finding]:
    desc = part.sniffed_description.lower()
    sniffed = part.sniffed_type in SCRIPT_MIMES or any(w in desc for w in SCRIPT_WORDS) or part.script_marker
    if sniffed or named_as(part.filename, SCRIPT_EXTS):
        return [Finding(part.label, "script", f"{part.label} is a script or runnable archive")]
    return []


def shortcut(part: PartFacts, _: Limits) -> list[Finding]:
    if "shortcut" in part.sniffed_description.lower() or named_as(part.filename, SHORTCUT_EXTS):
        return [Finding(part.label, "shortcut", f"{part.label} is a shortcut that can launch a program")]
    return []


def disk_image(part: PartFacts, _: Limits) -> list[Finding]:
    desc = part.sniffed_description.lower()
    if (
        part.sniffed_type in DISK_IMAGE_MIMES
        or "iso 9660" in desc
        or "disk image" in desc
        or named_as(part.filename, DISK_IMAGE_EXTS)
    ):
        return [Finding(part.label, "disk_image", f"{part.label} is a disk image")]
    return []


def installer(part: PartFacts, _: Limits) -> list[Finding]:
    desc = part.sniffed_description.lower()
    if part.sniffed_type in INSTALLER_MIMES or "installer" in desc or named_as(part.filename, INSTALLER_EXTS):
        return [Finding(part.label, "installer", f"{part.label} is a software installer or package")]
    return []


def macros(part: PartFacts, _: Limits) -> list[Finding]:
    if part.macros:
        return [Finding(part.label, "office_macro", f"{part.label} is an Office document with macros")]
    return []


def mismatch(part: PartFacts, _: Limits) -> list[Finding]:
    sniffed = mime_family(part.sniffed_type)
    by_declared = mime_family(part.declared_type)
    by_name = EXT_FAMILY.get(extension(part.filename))
    found = []
    if families_disagree(by_declared, sniffed):
        found.append(
            Finding(
                part.label,
                "type_mismatch",
                f"{part.label} is declared {by_declared} but its content is {part.sniffed_type}",
            )
        )
    elif families_disagree(by_name, sniffed):
        found.append(
            Finding(
                part.label,
                "type_mismatch",
                f"{part.label} is named as {by_name} but its content is {part.sniffed_type}",
            )
        )
    return found


def disguised_name(part: PartFacts, _: Limits) -> list[Finding]:
    found = []
    if has_bidi_control(part.filename):
        found.append(Finding(part.label, "rtl_override", f"{part.label} has a right-to-left override in its name"))
    if is_double_extension(part.filename):
        found.append(
            Finding(
                part.label, "double_extension", f"{part.label} has a document extension followed by a program extension"
            )
        )
    return found


def eicar(part: PartFacts, _: Limits) -> list[Finding]:
    if part.eicar:
        return [Finding(part.label, "eicar", f"{part.label} contains the EICAR anti-virus test string")]
    return []


def image_size(part: PartFacts, limits: Limits) -> list[Finding]:
    if part.image_pixels is not None and part.image_pixels > limits.image_max_pixels:
        return [
            Finding(
                part.label,
                "image_too_large",
                f"{part.label} declares {part.image_pixels} pixels, over the {limits.image_max_pixels} limit",
            )
        ]
    return []


def active_content(part: PartFacts, _: Limits) -> list[Finding]:
    return [Finding(part.label, code, f"{part.label} {ACTIVE_CONTENT[code]}") for code in part.active]


CHECKS: list[Check] = [
    size,
    encryption,
    media,
    executable,
    script,
    shortcut,
    disk_image,
    installer,
    macros,
    active_content,
    mismatch,
    disguised_name,
    eicar,
    image_size,
]


def size_limit_applies(kind: PartKind | Literal["email"], *, waived: bool, outermost: bool = True) -> bool:
    """Whether the mailboxes' size limits apply to this part: the one place that decides.

    The limits are the mailboxes' (seed 001: emails and their attachments). The email limit is on
    the received email as a whole, not on emails attached inside it. The agency's own scanner
    output is exempt (a multi-page TIFF is often over 4 MB and needs no adjustment), and so is an
    item an officer released with the size limits waived (quarantine release).
    """
    if waived or kind == "scan":
        return False
    return outermost or kind != "email"


def too_deep(depth: int, limits: Limits) -> bool:
    """Whether a part nested `depth` levels down (archives and attached emails) is past the limit."""
    return depth > limits.max_depth


def check_part(part: PartFacts, limits: Limits, *, size_applies: bool = True) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        if check is size and not size_applies:
            continue
        findings.extend(check(part, limits))
    return findings


def fields_hold_eicar(content: bytes) -> bool:
    """The EICAR string in a form's fields: as sent, or inside a JSON string, where its backslash
    is escaped (a field's value is what a person or a program downstream reads)."""
    if EICAR in content:
        return True
    if b"EICAR" not in content:
        return False
    try:
        fields = json.loads(content)
    except ValueError:
        return False
    return any(EICAR in value.encode() for value in _strings(fields))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
