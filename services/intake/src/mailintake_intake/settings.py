"""Intake's settings: the common ones (the body limit among them) plus limits on what a submission holds."""

from __future__ import annotations

from mailintake_common.settings import CommonSettings, MiB


class IntakeSettings(CommonSettings):
    # Most `file` parts in one scan submission
    max_scan_files: int = 500
    # Most attachments on one web form
    max_webform_attachments: int = 50
    # Most fields on one web form
    max_form_fields: int = 200
    # Longest web-form field value, in characters
    max_form_field_chars: int = 100_000
    # An email body larger than this is spooled to a temporary file on its way to the blob store
    email_spool_memory_bytes: int = 1 * MiB
