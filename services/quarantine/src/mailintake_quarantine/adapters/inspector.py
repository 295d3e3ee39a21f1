"""The real `Inspector`: libmagic, file readers and archive readers together."""

from __future__ import annotations

from mailintake_quarantine.adapters import archives, content
from mailintake_quarantine.domain.contents import Archive, Member
from mailintake_quarantine.domain.rules import Limits, PartFacts
from mailintake_quarantine.domain.screening import InputPart, Screening, screen_item


class ContentInspector:
    def facts(self, label: str, data: bytes, filename: str | None, declared_type: str | None) -> PartFacts:
        return content.part_facts(label, data, filename, declared_type)

    def archive_kind(self, mime: str, data: bytes) -> str | None:
        return archives.archive_kind(mime, data)

    def open_archive(self, kind: str, data: bytes) -> Archive:
        return archives.open_archive(kind, data)

    def container_parts(self, data: bytes) -> list[Member]:
        return archives.container_parts(data)


def screen_in_worker(parts: list[InputPart], limits: Limits, waive_size: bool) -> Screening:
    """One item's screening, with the real inspector: runs in a screening worker process
    (handlers.py), so a hostile file that exhausts memory or time takes down only that worker.
    An item that opens nothing (form fields only, `screening.opens_nothing`) runs it in place."""
    return screen_item(parts, ContentInspector(), limits, waive_size=waive_size)
