"""Quarantine: screening throughput (emails/s) for a mixed set, beside Python's bare `email` parser.

Both read the same messages in the same run. The bare parser only builds the message tree;
screening also sniffs every part with libmagic, opens archives and Office containers and
applies every rule, so the ratio shows what screening costs over parsing.
"""

from __future__ import annotations

import email
import email.policy
import os
import time

from bench.support import table
from mailintake_quarantine.adapters.inspector import ContentInspector
from mailintake_quarantine.domain.rules import Limits
from mailintake_quarantine.domain.screening import InputPart, screen_item
from tests.factories import quarantine_files as files
from tests.factories.documents import email_bytes

ROUNDS = int(os.environ.get("BENCH_QUARANTINE_ROUNDS", "40"))
MiB = 1024 * 1024
LIMITS = Limits(8 * MiB, 4 * MiB, 3, 1000, 200 * MiB, 100.0, 100_000_000, 64 * MiB)


def mixed_set() -> list[bytes]:
    return [
        email_bytes(body="Please update my address. " * 40),
        files.email_with([("letter.pdf", files.plain_pdf(), "application/pdf")]),
        files.email_with([("photo.png", files.small_png(), "image/png")]),
        files.email_with(
            [("docs.zip", files.zip_of({"a.txt": b"hello" * 100, "b.pdf": files.plain_pdf()}), "application/zip")]
        ),
        files.email_with([("run.exe", files.windows_exe(), "application/octet-stream")]),
        files.email_with([("a.docx", files.docx(), "application/octet-stream")]),
        files.email_with([("secret.zip", files.zipcrypto_zip(), "application/zip")]),
        files.email_with([], body="<html><body><p>Hello</p></body></html>"),
    ]


def main() -> None:
    messages = mixed_set() * ROUNDS
    inspector = ContentInspector()
    started = time.perf_counter()
    for raw in messages:
        for part in email.message_from_bytes(raw, policy=email.policy.default).walk():
            part.get_payload(decode=True)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    for raw in messages:
        screen_item([InputPart("p0", "raw_email", raw)], inspector, LIMITS)
    screen_s = time.perf_counter() - started
    count = len(messages)
    table(
        f"quarantine screening, {count} emails (mixed: text, PDF, image, zip, exe, docx, encrypted zip, HTML), 1 core",
        [
            (
                "emails/s",
                f"{count / screen_s:.0f}",
                f"{count / parse_s:.0f} bare email parser",
                f"{(count / screen_s) / (count / parse_s):.2f}",
            )
        ],
    )


if __name__ == "__main__":
    main()
