"""Where a part sits in an item, as a person would say it: the `source` labels of cleared parts.

"attachment 1 letters.zip / statement.docx", "attached email / body 1": positions and
filenames only, never content, numbered per place (each attached email counts its own bodies
and attachments).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Place:
    """Where the parts being walked sit (the item itself, an attached email, an archive), for
    the `source` labels of what is cleared; numbering is per place, as a reader would count."""

    prefix: str = ""  # "" or e.g. "attached email / ", "attachment 1 fwd.eml / "
    bodies: int = 0
    attachments: int = 0
    emails: int = 0

    def body(self) -> str:
        self.bodies += 1
        return f"{self.prefix}body {self.bodies}"

    def attachment(self, filename: str | None) -> str:
        self.attachments += 1
        return self.prefix + named(f"attachment {self.attachments}", filename)

    def attached_email(self) -> Place:
        self.emails += 1
        return Place(f"{self.prefix}attached email{'' if self.emails == 1 else f' {self.emails}'} / ")


def named(position: str, filename: str | None) -> str:
    """A position and the file's name, made safe to show: no control characters, bounded."""
    name = " ".join("".join(c if c.isprintable() else " " for c in filename or "").split())[:120]
    return f"{position} {name}" if name else position
