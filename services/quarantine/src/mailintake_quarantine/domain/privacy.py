"""No tax file number leaves screening (SPEC 5 Privacy; issue 14).

Quarantine stores and publishes copies of what it read: the subject, filenames and where each
part sits, finding details, and the cleared text bodies, form fields and text attachments. Each
has its TFNs masked here (CRNs and ABNs are left alone, `mailintake_common.privacy`); only the
original blob, which intake keeps, holds what the sender wrote. Binary files (PDF, Office,
images) are cleared as they are: the classifier masks the text it reads from them.
"""

from __future__ import annotations

from dataclasses import replace

from mailintake_common.privacy import mask_optional, mask_tfns
from mailintake_quarantine.domain.findings import Finding
from mailintake_quarantine.domain.screening import Cleared, Screening

TEXT_KINDS = ("text_body", "html_body", "form_fields")


def _masked_content(part: Cleared) -> bytes:
    if part.kind not in TEXT_KINDS and not part.media_type.startswith("text/"):
        return part.content
    try:
        text = part.content.decode("utf-8")
    except UnicodeDecodeError:
        return part.content
    masked = mask_tfns(text)
    return part.content if masked == text else masked.encode("utf-8")


def without_tfns(screening: Screening) -> Screening:
    """The same screening with every TFN masked in what is stored or sent."""
    cleared = [
        replace(
            part,
            content=_masked_content(part),
            filename=mask_optional(part.filename),
            source=mask_optional(part.source),
        )
        for part in screening.cleared
    ]
    findings = [Finding(mask_tfns(f.part), f.rule, mask_tfns(f.detail)) for f in screening.findings]
    email = screening.email
    if email is not None and email.subject is not None:
        email = email.model_copy(update={"subject": mask_tfns(email.subject)})
    return Screening(screening.verdict, findings, cleared, email)
