"""What makes an item an exact duplicate of one received before (SPEC 5 rule 6; seed 001 line 79; issue 14).

The same document received again: from the same sender (emails; scans and web forms: the same
channel) with the same content in every part. The classifier's `content_sha256` covers every
cleared part in order (bodies, attachments, archive members, scans, form fields); the key adds
the channel, the sender and the subject. So mail from another sender is never a duplicate of
another's, however alike, and an email without a sender is never called a duplicate.

Only `clear` items have a key: a held item's hash covers just what was cleared for reading (a
quarantined email's bodies, not its attachments), which is not "every part".
"""

from __future__ import annotations

import hashlib
import json

from mailintake_common.events import Channel, Verdict


def duplicate_key(
    channel: Channel,
    verdict: Verdict,
    content_sha256: str | None,
    sender: str | None = None,
    subject: str | None = None,
) -> str | None:
    """The key under which an exact duplicate of this item would have been seen, or None."""
    if verdict != "clear" or not content_sha256:
        return None
    if channel == "email":
        if not sender or "@" not in sender:
            return None
        who = sender.strip().lower()
    else:
        who = ""
    parts = [channel, who, (subject or "").strip() if channel == "email" else "", content_sha256]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()
