"""What an archive looks like to screening: members with declared sizes and a capped reader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mailintake_quarantine.domain.rules import PartFacts


@dataclass
class Member:
    name: str | None
    size: int  # declared expanded size
    compressed: int
    read: Callable[[int], bytes] | None  # read(at_most) -> bytes; None when unreadable


@dataclass
class Archive:
    kind: str
    encrypted: bool = False
    members: list[Member] = field(default_factory=list)
    unreadable: str | None = None  # why members cannot be read


class Inspector(Protocol):
    """The adapters screening needs (adapters/inspector.py): typing, facts and archives."""

    def facts(self, label: str, content: bytes, filename: str | None, declared_type: str | None) -> PartFacts: ...

    def archive_kind(self, mime: str, content: bytes) -> str | None: ...

    def open_archive(self, kind: str, content: bytes) -> Archive: ...

    def container_parts(self, content: bytes) -> list[Member]:
        """The parts of an Office document (a zip screened as a document), declared sizes only."""
        ...
