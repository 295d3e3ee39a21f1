"""Failures a consumer's handler can raise that retrying cannot fix (consumer.py dead-letters them at once)."""

from __future__ import annotations


class PermanentError(Exception):
    """A failure retrying cannot fix (bad content, missing blob): go to the DLQ at once."""
