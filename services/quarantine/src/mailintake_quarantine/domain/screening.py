"""Screening one item: walk every part of an email, scan or web form and apply the rules.

Emails are walked part by part, recursing into attached emails and archives under the depth,
file-count and expansion limits. A malformed email is screened as far as it can be read; what
could not be read becomes a finding, never an exception. The result says what may be opened
downstream (`cleared`), in the order it was found: every readable file at any depth (archive
members, attachments of attached emails) when nothing quarantine-class was found (clear, or held
only for size), otherwise only text bodies and form fields, which are read as text and never
rendered. Each cleared part carries a `source` label saying where it sits in the item, made of
positions and filenames only, never content.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Protocol

from mailintake_common.events import EmailFacts, PartKind, PartRole, Verdict
from mailintake_quarantine.domain.contents import Inspector
from mailintake_quarantine.domain.expansion import container_refusal, declared_refusal, read_cap
from mailintake_quarantine.domain.findings import Finding, content_cleared_for_reading, verdict_of
from mailintake_quarantine.domain.mime import addresses, parse_email
from mailintake_quarantine.domain.names import extension
from mailintake_quarantine.domain.places import Place, named
from mailintake_quarantine.domain.rules import (
    EICAR,
    Limits,
    check_part,
    fields_hold_eicar,
    size_limit_applies,
    too_deep,
)

PGP_ARMOUR = b"-----BEGIN PGP MESSAGE-----"
# `content.lstrip().startswith(PGP_ARMOUR)` without copying the whole file (bytes whitespace)
_PGP_AT_START = re.compile(rb"[ \t\n\r\x0b\x0c]*" + re.escape(PGP_ARMOUR))
SMIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")


@dataclass(frozen=True)
class InputPart:
    part_id: str
    role: PartRole
    content: bytes
    filename: str | None = None
    declared_type: str | None = None


@dataclass(frozen=True)
class Cleared:
    part_id: str
    kind: PartKind
    media_type: str
    content: bytes
    filename: str | None = None
    readable_when_held: bool = False  # bodies and form fields: read as text even when held
    source: str | None = None  # "attachment 1 letters.zip / statement.docx", "attached email / body 1"


@dataclass
class Screening:
    verdict: Verdict
    findings: list[Finding]
    cleared: list[Cleared]
    email: EmailFacts | None = None


@dataclass
class _Walk:
    inspector: Inspector
    limits: Limits
    waive_size: bool
    findings: list[Finding] = field(default_factory=list)
    candidates: list[Cleared] = field(default_factory=list)
    files: int = 0
    expanded: int = 0
    attachments: int = 0
    bodies: int = 0

    def note(self, part: str, rule: str, detail: str) -> None:
        self.findings.append(Finding(part, rule, detail))


def screen_item(parts: list[InputPart], inspector: Inspector, limits: Limits, *, waive_size: bool = False) -> Screening:
    walk = _Walk(inspector, limits, waive_size)
    item = Place()
    facts = None
    for index, part in enumerate(parts, start=1):
        if part.role == "raw_email":
            facts = _screen_email(walk, part.content, "email", 0, item, top=True)
        elif part.role == "scan":
            label = f"scan {index}"
            source = named(label, part.filename)
            _screen_file(walk, label, part.content, part.filename, part.declared_type, 0, source, kind="scan")
        elif part.role == "form_fields":
            if fields_hold_eicar(part.content):
                walk.note("form fields", "eicar", "the form fields contain the EICAR anti-virus test string")
            walk.candidates.append(
                Cleared(
                    part.part_id,
                    "form_fields",
                    "application/json",
                    part.content,
                    readable_when_held=True,
                    source="form fields",
                )
            )
        else:
            walk.attachments += 1
            label = f"attachment {walk.attachments}"
            source = item.attachment(part.filename)
            _screen_file(walk, label, part.content, part.filename, part.declared_type, 0, source)
    everything = content_cleared_for_reading(walk.findings)
    cleared = [c for c in walk.candidates if everything or c.readable_when_held]
    numbered = [replace(c, part_id=f"c{i}", readable_when_held=False) for i, c in enumerate(cleared)]
    return Screening(verdict_of(walk.findings), _dedupe(walk.findings), numbered, facts)


def opens_nothing(parts: Sequence[HasRole]) -> bool:
    """Whether screening these parts runs no parser of untrusted content. Web-form fields are only
    searched for the EICAR string, so a form without attachments can be screened where it is, without
    a worker round trip (issue 18); every email, scan and file is opened in a worker (issue 15)."""
    return all(part.role == "form_fields" for part in parts)


class HasRole(Protocol):
    """A part as `opens_nothing` needs it: received (`InputPart`) or on its way to a worker."""

    @property
    def role(self) -> str: ...


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def _screen_email(
    walk: _Walk, raw: bytes, label: str, depth: int, place: Place, top: bool = False
) -> EmailFacts | None:
    if size_limit_applies("email", waived=walk.waive_size, outermost=top) and len(raw) > walk.limits.email_bytes:
        walk.note(
            label, "email_over_limit", f"the email is {len(raw)} bytes, over the {walk.limits.email_bytes}-byte limit"
        )
    try:
        message = parse_email(raw)
    except Exception as exc:  # the stdlib parser rarely gives up; when it does, nothing is readable
        walk.note(label, "malformed_email", f"the {label} could not be parsed ({type(exc).__name__})")
        return None
    _visit(walk, message, label, depth, place)  # decoding first: bad base64 and the like add defects as it reads
    defects = _count_defects(message)
    if defects:
        walk.note(
            label, "malformed_email", f"the {label} has {defects} structural defect(s); screened as far as readable"
        )
    return email_facts(message) if top else None


def _count_defects(message: Message) -> int:
    """Structural, transfer-encoding (found while decoding) and header defects of every part."""
    count = 0
    try:
        for part in message.walk():
            count += len(getattr(part, "defects", []))
            for _, value in part.items():
                count += len(getattr(value, "defects", ()))
    except Exception:
        count += 1
    return count


def _visit(walk: _Walk, part: Message, label: str, depth: int, place: Place) -> None:
    ctype = _safe(lambda: part.get_content_type(), "application/octet-stream")
    if ctype == "multipart/encrypted":
        walk.note(label, "pgp_encrypted", f"the {label} has an encrypted (PGP/MIME) part")
        return
    if ctype in SMIME_TYPES and "signed" not in str(_safe(lambda: part.get_param("smime-type"), "") or ""):
        walk.note(label, "smime_encrypted", f"the {label} has S/MIME encrypted content")
        return
    if ctype == "message/rfc822" or part.is_multipart():
        children = _safe(lambda: part.get_payload(), [])
        if ctype == "message/rfc822":
            if too_deep(depth + 1, walk.limits):
                walk.note(label, "archive_depth", f"attached emails are nested deeper than {walk.limits.max_depth}")
                return
            depth += 1
            place = place.attached_email()
            encoded = _encoded_attached_email(part, children)
            if encoded is not None:
                _screen_email(walk, encoded, "attached email", depth, place)
                return
            if not isinstance(children, list) or not children:
                raw = _safe(lambda: part.get_payload(decode=True), None) or b""
                if raw:
                    _screen_email(walk, bytes(raw), "attached email", depth, place)
                return
        for child in children if isinstance(children, list) else []:
            if isinstance(child, Message):
                _visit(walk, child, label, depth, place)
        return
    _leaf(walk, part, ctype, label, depth, place)


def _encoded_attached_email(part: Message, children: object) -> bytes | None:
    """A message/rfc822 part sent base64-encoded (not allowed, but senders do it): its bytes."""
    encoding = str(_safe(lambda: part.get("Content-Transfer-Encoding", ""), "")).strip().lower()
    if encoding != "base64" or not isinstance(children, list) or not children:
        return None
    body = _safe(lambda: children[0].get_payload(), "")
    if not isinstance(body, str):
        return None
    try:
        return base64.b64decode("".join(body.split()), validate=False)
    except (ValueError, binascii.Error):
        return None


def _leaf(walk: _Walk, part: Message, ctype: str, label: str, depth: int, place: Place) -> None:
    filename = _safe(lambda: part.get_filename(), None)
    disposition = _safe(lambda: part.get_content_disposition(), None)
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename
    where = label if label == "email" else f"{label}"
    if not isinstance(payload, bytes):
        walk.note(where, "unreadable_part", f"a part of the {label} could not be decoded and is withheld")
        return
    if is_body:
        walk.bodies += 1
        body_label = f"{where} body {walk.bodies}"
        if PGP_ARMOUR in payload:
            walk.note(body_label, "pgp_encrypted", f"{body_label} is a PGP encrypted message")
        if EICAR in payload:
            walk.note(body_label, "eicar", f"{body_label} contains the EICAR anti-virus test string")
        if not _charset_known(part):
            walk.note(body_label, "unreadable_part", f"{body_label} declares an unknown character set; read as UTF-8")
        text = _body_text(part, payload)
        kind: PartKind = "text_body" if ctype == "text/plain" else "html_body"
        source = place.body()
        walk.candidates.append(Cleared("", kind, ctype, text.encode("utf-8"), readable_when_held=True, source=source))
        return
    walk.attachments += 1
    source = place.attachment(filename)
    _screen_file(walk, f"attachment {walk.attachments}", payload, filename, ctype, depth, source)


def _charset_known(part: Message) -> bool:
    charset = _safe(lambda: part.get_content_charset(), None)
    if not charset:
        return True
    try:
        codecs.lookup(charset)
    except (LookupError, ValueError):
        return False
    return True


def _body_text(part: Message, payload: bytes) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]  # EmailMessage under policy.default
        if isinstance(content, str):
            return content
    except Exception:
        pass
    return payload.decode("utf-8", errors="replace")


def _screen_file(
    walk: _Walk,
    label: str,
    content: bytes,
    filename: str | None,
    declared: str | None,
    depth: int,
    source: str,
    kind: PartKind = "attachment",
) -> None:
    parts = walk.inspector.container_parts(content)
    refused = container_refusal(parts, walk.expanded, walk.limits) if parts else None
    if refused:  # an Office document whose parts would blow up any reader: not read at all
        walk.note(label, refused.rule, f"{label} {refused.detail}")
        return
    facts = walk.inspector.facts(label, content, filename, declared)
    found = check_part(facts, walk.limits, size_applies=size_limit_applies(kind, waived=walk.waive_size))
    if _PGP_AT_START.match(content) or (declared or "").lower() == "application/pgp-encrypted":
        found.append(Finding(label, "pgp_encrypted", f"{label} is a PGP encrypted message"))
    if (declared or "").lower() in SMIME_TYPES or facts.sniffed_type in ("application/pkcs7-mime",):
        found.append(Finding(label, "smime_encrypted", f"{label} is S/MIME encrypted content"))
    walk.findings.extend(found)
    archive_kind = walk.inspector.archive_kind(facts.sniffed_type, content)
    if archive_kind:
        _screen_archive(walk, label, archive_kind, content, depth + 1, source)
        return
    if facts.sniffed_type == "message/rfc822" or extension(filename) == ".eml":
        if too_deep(depth + 1, walk.limits):
            walk.note(label, "archive_depth", f"attached emails are nested deeper than {walk.limits.max_depth}")
        else:
            _screen_email(walk, content, f"{label} (attached email)", depth + 1, Place(f"{source} / "))
        return
    # Every file that got here passed the same rules at its own depth (anything inside that would
    # itself be quarantined holds the whole item), so members are as readable as top-level files.
    walk.candidates.append(Cleared("", kind, facts.sniffed_type, content, filename, source=source))


def _screen_archive(walk: _Walk, label: str, kind: str, content: bytes, depth: int, source: str) -> None:
    limits = walk.limits
    if too_deep(depth, limits):
        walk.note(label, "archive_depth", f"{label} nests archives deeper than {limits.max_depth}")
        return
    archive = walk.inspector.open_archive(kind, content)
    if archive.encrypted:
        walk.note(label, "encrypted_archive", f"{label} is a password-protected {kind} archive")
        return
    if archive.unreadable:
        walk.note(label, "unreadable_archive", f"{label}: {archive.unreadable}")
        return
    refused = declared_refusal(archive.members, len(content), walk.files, walk.expanded, limits)
    if refused:
        where = f"{label} / member {refused.member}" if refused.member else label
        walk.note(where, refused.rule, f"{where} {refused.detail}")
        return
    for number, member in enumerate(archive.members, start=1):
        member_label = f"{label} / member {number}"
        walk.files += 1
        cap = read_cap(member, walk.expanded, limits)
        try:
            data = member.read(cap) if member.read else b""
        except Exception as exc:
            walk.note(member_label, "unreadable_archive", f"{member_label} could not be read ({type(exc).__name__})")
            return
        walk.expanded += len(data)
        if len(data) >= cap:
            walk.note(member_label, "archive_bomb", f"{member_label} expands beyond what it declares")
            return
        member_source = f"{source} / {named('', member.name).strip() or f'member {number}'}"
        _screen_file(walk, member_label, data, member.name, None, depth, member_source)


def email_facts(message: Message) -> EmailFacts:
    def header(name: str) -> str | None:
        value = _safe(lambda: message.get(name), None)
        return _storable(str(value).strip()[:500]) if value is not None else None

    senders = _safe(lambda: addresses([str(message.get("From", ""))]), [])
    recipients = _safe(lambda: addresses([str(v) for v in message.get_all("To", [])]), [])
    return EmailFacts(
        from_address=next((_storable(addr.lower()) for _, addr in senders if "@" in addr), None),
        to_addresses=[_storable(addr.lower()) for _, addr in recipients if "@" in addr][:50],
        subject=header("Subject"),
        message_id=header("Message-ID"),
        auto_submitted=header("Auto-Submitted"),
        x_auto_response_suppress=header("X-Auto-Response-Suppress"),
        precedence=header("Precedence"),
        content_type=_safe(lambda: message.get_content_type(), None),
        report_type=_safe(lambda: _param_text(message.get_param("report-type")), None),
    )


def _param_text(value: object) -> str | None:
    """A header parameter as text: RFC 2231 values come back as (charset, language, text) tuples."""
    if value is None:
        return None
    text = collapse_rfc2231_value(value) if isinstance(value, tuple) else str(value)  # type: ignore[arg-type]
    return _storable(text.strip()[:200])


def _storable(text: str) -> str:
    """Header text later stages can store in PostgreSQL: no NUL, no lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _safe(read, default):
    try:
        value = read()
    except Exception:
        return default
    return default if value is None else value
