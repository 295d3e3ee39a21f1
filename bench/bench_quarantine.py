"""Quarantine: screening throughput (emails/s) for a mixed set, beside Python's bare `email` parser.

Both read the same messages in the same run. The bare parser only builds the message tree;
screening also sniffs every part with libmagic, opens archives and Office containers and
applies every rule, so the ratio shows what screening costs over parsing. Rates are from this
process's CPU time (one core, so the machine's other load does not move them); the wall-clock
rate is printed beside. Issue 18's goal is a ratio of at least 0.5.
"""

from __future__ import annotations

import email
import email.policy
import os
import time
from collections.abc import Callable

from bench.support import table
from mailintake_quarantine.adapters.inspector import ContentInspector
from mailintake_quarantine.domain.rules import Limits
from mailintake_quarantine.domain.screening import InputPart, screen_item
from tests.factories import quarantine_files as files
from tests.factories.documents import email_bytes

ROUNDS = int(os.environ.get("BENCH_QUARANTINE_ROUNDS", "40"))
MiB = 1024 * 1024
LIMITS = Limits(8 * MiB, 4 * MiB, 3, 1000, 200 * MiB, 100.0, 100_000_000, 64 * MiB)
GOAL = 0.5  # issue 18: screening at least half as fast as the bare parser on the same messages


def bare_parse(raw: bytes) -> None:
    for part in email.message_from_bytes(raw, policy=email.policy.default).walk():
        part.get_payload(decode=True)


def screen(raw: bytes, inspector: ContentInspector) -> None:
    screen_item([InputPart("p0", "raw_email", raw)], inspector, LIMITS)


def timed(messages: list[bytes], one: Callable[[bytes], None]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to run `one` over every message."""
    cpu, wall = time.process_time(), time.perf_counter()
    for raw in messages:
        one(raw)
    return time.process_time() - cpu, time.perf_counter() - wall


def mixed_set(n: int = 0) -> list[bytes]:
    """The eight kinds of email, from sender `n`: each copy has its own sender, file names,
    Message-ID and MIME boundaries, as a mailbox's emails do, so what screening keeps from one
    email (headers that recur: types, encodings, the agency's address) helps the next no more
    than it would in real mail."""
    sender = f"Parent {n} <parent{n}@example.org>"
    return [
        email_bytes(body="Please update my address. " * 40, sender=sender),
        files.email_with([(f"letter {n}.pdf", files.plain_pdf(), "application/pdf")], sender=sender),
        files.email_with([(f"photo {n}.png", files.small_png(), "image/png")], sender=sender),
        files.email_with(
            [(f"docs {n}.zip", files.zip_of({"a.txt": b"hello" * 100, "b.pdf": files.plain_pdf()}), "application/zip")],
            sender=sender,
        ),
        files.email_with([(f"run {n}.exe", files.windows_exe(), "application/octet-stream")], sender=sender),
        files.email_with([(f"reply {n}.docx", files.docx(), "application/octet-stream")], sender=sender),
        files.email_with([(f"secret {n}.zip", files.zipcrypto_zip(), "application/zip")], sender=sender),
        files.email_with([], body="<html><body><p>Hello</p></body></html>", sender=sender),
    ]


def main() -> None:
    messages = [raw for n in range(1, ROUNDS + 1) for raw in mixed_set(n)]
    inspector = ContentInspector()
    for raw in mixed_set():  # warm up: libmagic's database, Pillow's plugins, lazy imports
        bare_parse(raw)
        screen(raw, inspector)
    parse_cpu, parse_wall = timed(messages, bare_parse)
    screen_cpu, screen_wall = timed(messages, lambda raw: screen(raw, inspector))
    count = len(messages)
    ratio = parse_cpu / screen_cpu
    table(
        f"quarantine screening, {count} emails (mixed: text, PDF, image, zip, exe, docx, encrypted zip, HTML), 1 core",
        [
            (
                "emails/s (CPU time)",
                f"{count / screen_cpu:.0f}",
                f"{count / parse_cpu:.0f} bare email parser",
                f"{ratio:.2f} (goal {GOAL:g}: {'met' if ratio >= GOAL else 'not met'})",
            ),
            (
                "CPU ms per email",
                f"{screen_cpu / count * 1000:.2f}",
                f"{parse_cpu / count * 1000:.2f} bare email parser",
                f"{screen_cpu / parse_cpu:.1f}x",
            ),
            (
                "emails/s (wall clock, shared machine)",
                f"{count / screen_wall:.0f}",
                f"{count / parse_wall:.0f} bare email parser",
                f"{parse_wall / screen_wall:.2f}",
            ),
        ],
    )


if __name__ == "__main__":
    main()
