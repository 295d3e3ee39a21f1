"""Archive bombs are refused on what archives declare, before anything is extracted (issue 15).

Every member's declared size and compression ratio, the archive's overall ratio (a solid 7z or
a gzip has no per-member compressed size), the item's file count and its expansion budget are
checked first; only then are members read, one at a time, each capped at what it declared, so
an archive that lies about its sizes still stops at the first byte it did not declare. Office
documents are zip containers too: their parts get the size limits (not the ratio: XML
compresses far better than letters do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailintake_quarantine.domain.contents import Member
from mailintake_quarantine.domain.rules import Limits


@dataclass(frozen=True)
class Refusal:
    rule: str  # archive_bomb | archive_file_count
    member: int | None  # 1-based member number the refusal is about, None for the whole archive
    detail: str


def declared_refusal(
    members: Sequence[Member], packed_bytes: int, files_before: int, expanded_before: int, limits: Limits
) -> Refusal | None:
    """Why an archive must not be extracted at all, from its declared sizes alone (or None)."""
    if files_before + len(members) > limits.max_files:
        return Refusal("archive_file_count", None, f"the item's archives hold more than {limits.max_files} files")
    for number, member in enumerate(members, start=1):
        if member.size > limits.max_member_bytes:
            return Refusal(
                "archive_bomb",
                number,
                f"declares {member.size} bytes, over the {limits.max_member_bytes}-byte member limit",
            )
        if member.compressed and member.size / member.compressed > limits.max_ratio:
            return Refusal("archive_bomb", number, f"expands more than {limits.max_ratio:.0f} times")
    total = sum(m.size for m in members)
    if total > limits.max_total_bytes - expanded_before:
        return Refusal(
            "archive_bomb", None, f"declares {total} bytes; the item's archives may expand to {limits.max_total_bytes}"
        )
    if packed_bytes and total / packed_bytes > limits.max_ratio:
        return Refusal("archive_bomb", None, f"expands more than {limits.max_ratio:.0f} times as a whole")
    return None


def container_refusal(members: Sequence[Member], expanded_before: int, limits: Limits) -> Refusal | None:
    """Why an Office document's parts must not be read (per-part and per-item sizes only)."""
    for number, member in enumerate(members, start=1):
        if member.size > limits.max_member_bytes:
            return Refusal(
                "archive_bomb",
                number,
                f"has a part of {member.size} bytes, over the {limits.max_member_bytes}-byte limit",
            )
    total = sum(m.size for m in members)
    if total > limits.max_total_bytes - expanded_before:
        return Refusal(
            "archive_bomb", None, f"has parts of {total} bytes; an item may expand to {limits.max_total_bytes}"
        )
    return None


def read_cap(member: Member, expanded_before: int, limits: Limits) -> int:
    """How many bytes to read from a member that passed `declared_refusal`: one more than it
    declared (or than what is left), so reading one byte too many proves the declaration false."""
    return min(member.size, limits.max_member_bytes, limits.max_total_bytes - expanded_before) + 1
