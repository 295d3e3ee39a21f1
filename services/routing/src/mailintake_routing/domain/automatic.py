"""Automatic mail that nobody needs to read (seed 000; issue 9): it goes to pending-delete.

- Securemail delivery notices ("a classified message has been securely delivered"): seed 000
  says to delete them.
- Out-of-office and other auto-replies: `Auto-Submitted` other than `no` (RFC 3834),
  `X-Auto-Response-Suppress` (set by Exchange on automatic replies), `Precedence: auto_reply`.
- Read receipts: `multipart/report; report-type=disposition-notification` (RFC 8098).

A delivery failure report (`report-type=delivery-status`) is NOT noise: it is about the
agency's own email not arriving, so the classifier types it `returned_to_sender` and it is
routed like returned mail, attached to the customer the returned message identifies.
"""

from __future__ import annotations

import re

SECUREMAIL_NOTICE = re.compile(r"securely delivered|securemail.*deliver|delivered via .*secure ?mail", re.IGNORECASE)


def automatic_mail(email: dict[str, str | None] | None) -> str | None:
    """Why this email is automatic mail, or None when a person sent it."""
    if not email:
        return None
    subject = email.get("subject") or ""
    if SECUREMAIL_NOTICE.search(subject):
        return "Securemail delivery notice"
    content_type = (email.get("content_type") or "").lower()
    report_type = (email.get("report_type") or "").lower()
    if content_type == "multipart/report" and report_type == "disposition-notification":
        return "read receipt"
    auto = (email.get("auto_submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"auto-submitted message ({auto.split(';')[0]})"
    if email.get("x_auto_response_suppress"):
        return "automatic reply (X-Auto-Response-Suppress)"
    if (email.get("precedence") or "").strip().lower() == "auto_reply":
        return "automatic reply (Precedence: auto_reply)"
    return None
