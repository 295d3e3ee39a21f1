"""Parsing an email for screening: `email.policy.default`'s reading, each distinct header parsed once.

Screening reads an email with the standard library's modern policy (its header objects decode
RFC 2047 and RFC 2231 and record defects). That policy parses a header again on every fetch,
and a part's Content-Type is fetched a dozen times while the parser finds boundaries, while
screening reads the type, the file name, the character set and the payload, and when defects are
counted; it also builds a new header class on every fetch. The profile of the bench's mixed
emails put two thirds of screening there (issue 18).

`parse_email` uses the same policy with a header factory that builds each class once and keeps
the header objects of one message (they are immutable strings), so every fetch returns what
`policy.default` would, parsed once. The cache belongs to one message and is bounded in entries
and in value length, so a hostile email with very many or very long headers costs no more memory
than before (its headers are parsed on every fetch, as before).
"""

from __future__ import annotations

import email
import email.policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage

MAX_CACHED_HEADERS = 256
MAX_CACHED_VALUE_CHARS = 2000

_CLASSES: dict[type, type] = {}  # registry class -> the header class policy.default would build for it


class ParsedOnce(HeaderRegistry):
    """`policy.default`'s header registry, building each header class once and each header of
    one message once. Header objects are immutable, so a kept one is the one a fetch would build."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type:
        cls = self.registry.get(name.lower(), self.default_class)
        built = _CLASSES.get(cls)
        if built is None:
            built = _CLASSES.setdefault(cls, type("_" + cls.__name__, (cls, self.base_class), {}))
        return built

    def __call__(self, name: str, value: str) -> BaseHeader:
        if len(value) > MAX_CACHED_VALUE_CHARS:
            return self[name](name, value)  # type: ignore[no-any-return]
        key = (name, value)
        header = self._kept.get(key)
        if header is None:
            header = self[name](name, value)
            if len(self._kept) >= MAX_CACHED_HEADERS:
                self._kept.clear()
            self._kept[key] = header
        return header


def parse_email(raw: bytes) -> EmailMessage:
    """`email.message_from_bytes(raw, policy=email.policy.default)`, parsing each header once."""
    policy = email.policy.default.clone(header_factory=ParsedOnce())
    return email.message_from_bytes(raw, policy=policy)  # type: ignore[return-value]
