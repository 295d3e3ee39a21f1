"""Intake's settings: the common ones plus request limits."""

from __future__ import annotations

from mailintake_common.settings import CommonSettings, MiB


class IntakeSettings(CommonSettings):
    # A body over this gets 413 without being held in memory whole (SPEC 3).
    max_request_bytes: int = 64 * MiB
    # Most `file` parts in one scan submission
    max_scan_files: int = 500
    # Most attachments on one web form
    max_webform_attachments: int = 50
    # Most fields on one web form
    max_form_fields: int = 200
    # Longest web-form field value, in characters
    max_form_field_chars: int = 100_000
