"""Findings and the verdict they add up to (SPEC 5, Quarantine).

Every rule has a stable code and a class: quarantine-class rules hold the item for good,
size-class rules send it to manual adjustment, notes only record something odd. The verdict
is a pure function of the findings: quarantined beats manual adjustment (a harmful file
stays held even when it is also big), which beats clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

from mailintake_common.events import HoldReason, Verdict
from mailintake_quarantine.domain.active import ACTIVE_CONTENT


class RuleClass(StrEnum):
    QUARANTINE = "quarantine"
    SIZE = "size"
    NOTE = "note"


RULES: dict[str, RuleClass] = {
    # size (seed 001: 8 MB emails, 4 MB attachments)
    "email_over_limit": RuleClass.SIZE,
    "attachment_over_limit": RuleClass.SIZE,
    # encrypted content
    "encrypted_archive": RuleClass.QUARANTINE,
    "encrypted_pdf": RuleClass.QUARANTINE,
    "encrypted_office": RuleClass.QUARANTINE,
    "smime_encrypted": RuleClass.QUARANTINE,
    "pgp_encrypted": RuleClass.QUARANTINE,
    # media
    "media": RuleClass.QUARANTINE,
    # possible harmful content
    "executable": RuleClass.QUARANTINE,
    "script": RuleClass.QUARANTINE,
    "office_macro": RuleClass.QUARANTINE,
    "shortcut": RuleClass.QUARANTINE,
    "disk_image": RuleClass.QUARANTINE,
    "installer": RuleClass.QUARANTINE,
    "type_mismatch": RuleClass.QUARANTINE,
    "double_extension": RuleClass.QUARANTINE,
    "rtl_override": RuleClass.QUARANTINE,
    "eicar": RuleClass.QUARANTINE,
    "archive_bomb": RuleClass.QUARANTINE,
    "archive_depth": RuleClass.QUARANTINE,
    "archive_file_count": RuleClass.QUARANTINE,
    "unreadable_archive": RuleClass.QUARANTINE,
    "image_too_large": RuleClass.QUARANTINE,
    # active content (issue 15): domain/active.py
    **dict.fromkeys(ACTIVE_CONTENT, RuleClass.QUARANTINE),
    # notes: recorded, nothing held for them alone
    "malformed_email": RuleClass.NOTE,
    "unreadable_part": RuleClass.NOTE,
}

# Rule codes grouped as SPEC 3's release endpoint explains a 409
REASON_OF_RULE: dict[str, HoldReason] = {
    **{
        r: "encrypted"
        for r in ("encrypted_archive", "encrypted_pdf", "encrypted_office", "smime_encrypted", "pgp_encrypted")
    },
    "media": "media",
    **{r: "size" for r in ("email_over_limit", "attachment_over_limit")},
}


@dataclass(frozen=True)
class Finding:
    part: str  # e.g. "email", "part 2", "part 2 / member 3"
    rule: str
    detail: str  # human-readable, never quoting names or content (they can be personal)

    @property
    def rule_class(self) -> RuleClass:
        return RULES[self.rule]

    @property
    def reason(self) -> HoldReason | Literal["note"]:
        """encrypted | media | harmful | size | note: how the item is listed and released."""
        if self.rule_class is RuleClass.NOTE:
            return "note"
        return REASON_OF_RULE.get(self.rule, "harmful")

    def as_dict(self) -> dict[str, str]:
        return {"part": self.part, "rule": self.rule, "detail": self.detail}


def verdict_of(findings: list[Finding]) -> Verdict:
    classes = {f.rule_class for f in findings}
    if RuleClass.QUARANTINE in classes:
        return "quarantined"
    if RuleClass.SIZE in classes:
        return "manual_adjustment"
    return "clear"


def content_cleared_for_reading(findings: list[Finding]) -> bool:
    """Whether every readable file of the item is cleared for the classifier, not only its text.

    Yes when nothing quarantine-class was found: a clear item, or one held only for size (issue
    13: "Items held for size still get the at-risk check on everything readable"). No for anything
    encrypted, media or harmful (SPEC 5: nothing quarantined is ever opened by OCR, an image
    decoder or a PDF renderer). Bodies and form fields are read as text either way.
    """
    return all(f.rule_class is not RuleClass.QUARANTINE for f in findings)


def reasons_of(findings: list[Finding]) -> list[HoldReason]:
    """Hold reasons in a stable order (as `HoldReason` lists them), without notes: e.g. ["encrypted", "harmful"]."""
    found = {f.reason for f in findings}
    return [r for r in get_args(HoldReason) if r in found]
