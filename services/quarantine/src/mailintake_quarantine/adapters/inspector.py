"""The real `Inspector`: libmagic, file readers and archive readers together."""

from __future__ import annotations

from mailintake_quarantine.adapters import archives, content
from mailintake_quarantine.domain.contents import Archive, Member
from mailintake_quarantine.domain.rules import PartFacts


class ContentInspector:
    def facts(self, label: str, data: bytes, filename: str | None, declared_type: str | None) -> PartFacts:
        return content.part_facts(label, data, filename, declared_type)

    def archive_kind(self, mime: str, data: bytes) -> str | None:
        return archives.archive_kind(mime, data)

    def open_archive(self, kind: str, data: bytes) -> Archive:
        return archives.open_archive(kind, data)

    def container_parts(self, data: bytes) -> list[Member]:
        return archives.container_parts(data)
