"""How an item's parts reach the screening worker and its cleared parts come back (issue 17).

The service never holds a large part whole: it streams each part from the blob store into the
item's spool (`mailintake_common.spool`) and the worker gets the file's path. The worker reads
the parts, screens them exactly as before (`screen_in_worker`), masks TFNs in what is cleared,
and hands each cleared part's content back as one of:

- `SameAsInput`: the very bytes of a received part (a scan, a web form's attachment), already
  in the blob store under the same sha256, so nothing is copied or stored again;
- a `PartContent`: bytes when small, else a file the worker wrote into the same spool (an
  attachment decoded out of a large email, an archive member).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailintake_common.events import PartRole, Verdict
from mailintake_common.spool import PartContent, SpoolPlan
from mailintake_quarantine.adapters.content import sniff
from mailintake_quarantine.adapters.inspector import screen_in_worker
from mailintake_quarantine.domain.privacy import without_tfns
from mailintake_quarantine.domain.rules import Limits
from mailintake_quarantine.domain.screening import InputPart, Screening


@dataclass(frozen=True)
class SpooledPart:
    """A received part as it crosses to the worker: its content in memory or in a spool file."""

    part_id: str
    role: PartRole
    content: PartContent
    filename: str | None = None
    declared_type: str | None = None


@dataclass(frozen=True)
class SameAsInput:
    """A cleared part that is byte for byte the received part at `index`."""

    index: int


ClearedContent = PartContent | SameAsInput


@dataclass
class Screened:
    """A screening as the worker returns it: the cleared parts' content is in `contents`, in order
    (the parts themselves carry none)."""

    screening: Screening
    contents: list[ClearedContent]

    @property
    def verdict(self) -> Verdict:
        return self.screening.verdict


def screen_spooled(parts: list[SpooledPart], limits: Limits, waive_size: bool, plan: SpoolPlan) -> Screened:
    """Runs in a screening worker: read the parts, screen them, hand large cleared content back as files."""
    inputs = [InputPart(p.part_id, p.role, p.content.read(), p.filename, p.declared_type) for p in parts]
    result = without_tfns(screen_in_worker(inputs, limits, waive_size))
    contents: list[ClearedContent] = []
    for number, part in enumerate(result.cleared):
        same = next((i for i, given in enumerate(inputs) if part.content is given.content), None)
        contents.append(SameAsInput(same) if same is not None else plan.keep(part.content, f"cleared-{number}"))
    emptied = [replace(part, content=b"") for part in result.cleared]
    return Screened(replace(result, cleared=emptied), contents)


def warm_up() -> None:
    """Each screening worker's initializer (`handlers.screening_pool`): importing this module loads
    the file readers, and a first sniff loads libmagic's database, so the first items do not wait."""
    sniff(b"warm")
