"""Parsing an email for screening: `email.policy.default`'s reading, each distinct header parsed once.

Screening reads an email with the standard library's modern policy (its header objects decode
RFC 2047 and RFC 2231 and record defects). That policy parses a header again on every fetch,
and a part's Content-Type is fetched a dozen times while the parser finds boundaries, while
screening reads the type, the file name, the character set and the payload, and when defects are
counted; it also builds a new header class on every fetch. The profile of the bench's mixed
emails put two thirds of screening there (issue 18).

`parse_email` uses the same policy with a header factory that builds each class once and keeps
header objects (they are immutable strings), so every fetch returns what `policy.default` would,
parsed once. Short headers are kept for the process (a bounded LRU): types, encodings,
MIME-Version and the agency's own addresses recur from one email to the next. Longer ones are
kept for one message. Both are bounded in entries and in length (at most about 30 MB in all,
whatever an email holds); past the bounds a header is parsed on every fetch, as before.

`addresses` reads the From and To addresses (`email.utils.getaddresses`, 13 us an email, a
quarter of what screening adds to the parse) once for the process when they are short: the
agency's own addresses and regular senders recur (issue 18, session 13).
"""

from __future__ import annotations

import email
import email.policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import getaddresses
from functools import lru_cache

MAX_SHARED_VALUE_CHARS = 80  # headers this short are kept for the process...
MAX_SHARED_HEADERS = 256  # ...this many of them, the least recently used dropped first
MAX_CACHED_HEADERS = 64  # longer ones are kept for one message, the last this many...
MAX_CACHED_VALUE_CHARS = 1000  # ...up to this long (a long address list's parse is ~170 KB)
MAX_SHARED_ADDRESS_CHARS = 200  # address headers this short (their values together) are read once

_CLASSES: dict[type, type] = {}  # registry class -> the header class policy.default would build for it
_REGISTRY = HeaderRegistry()  # policy.default's names -> classes


def header_class(name: str) -> type:
    """The class `policy.default`'s registry builds for a header name, built once per kind."""
    cls = _REGISTRY.registry.get(name.lower(), _REGISTRY.default_class)
    built = _CLASSES.get(cls)
    if built is None:
        built = _CLASSES.setdefault(cls, type("_" + cls.__name__, (cls, _REGISTRY.base_class), {}))
    return built


@lru_cache(maxsize=MAX_SHARED_HEADERS)
def _shared(name: str, value: str) -> BaseHeader:
    return header_class(name)(name, value)  # type: ignore[no-any-return]


class ParsedOnce(HeaderRegistry):
    """`policy.default`'s header registry, building each header class once and each header once
    (for the process when it is short, for one message otherwise). Header objects are immutable,
    so a kept one is the one a fetch would build."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type:
        return header_class(name)

    def __call__(self, name: str, value: str) -> BaseHeader:
        if len(value) <= MAX_SHARED_VALUE_CHARS:
            return _shared(name, value)
        if len(value) > MAX_CACHED_VALUE_CHARS:
            return self[name](name, value)  # type: ignore[no-any-return]
        key = (name, value)
        header = self._kept.get(key)
        if header is None:
            header = self[name](name, value)
            if len(self._kept) >= MAX_CACHED_HEADERS:
                del self._kept[next(iter(self._kept))]  # the oldest: a part's headers are read together
            self._kept[key] = header
        return header


def parse_email(raw: bytes) -> EmailMessage:
    """`email.message_from_bytes(raw, policy=email.policy.default)`, parsing each header once."""
    policy = email.policy.default.clone(header_factory=ParsedOnce())
    return email.message_from_bytes(raw, policy=policy)  # type: ignore[return-value]


def addresses(values: list[str]) -> list[tuple[str, str]]:
    """`email.utils.getaddresses(values)`, kept for the process when the values are short (a fresh
    list each time; a value it cannot read raises each time, as before)."""
    if sum(map(len, values)) > MAX_SHARED_ADDRESS_CHARS:
        return getaddresses(values)
    return list(_shared_addresses(tuple(values)))


@lru_cache(maxsize=MAX_SHARED_HEADERS)
def _shared_addresses(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(getaddresses(list(values)))
