"""`mailintake tail`: a queue's events through routing's authenticated HTTP feed
(`GET /v1/queues/{queue}/events`), never straight from the broker: the key's scopes and RACS
level decide what is shown, and an operator needs no broker address or credentials.

Without `--follow` it prints the newest events (oldest of them first, as `tail` does) and
stops; `--follow` then polls for what is published next, from the position the service gave.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from mailintake_cli.client import Api

PAGE = 500  # the feed's largest page


@dataclass
class Tail:
    api: Api
    queue: str
    as_json: bool
    max_messages: int = 0  # stop after this many lines (0: no limit)
    printed: int = 0

    @property
    def path(self) -> str:
        return f"/v1/queues/{self.queue}/events"

    def _get(self, **params: Any) -> dict[str, Any]:
        return dict(self.api.json("GET", self.path, params={k: v for k, v in params.items() if v is not None}))

    def _print(self, entries: list[dict[str, Any]]) -> bool:
        """Print entries in order; False once `max_messages` is reached."""
        for entry in entries:
            click.echo(json.dumps(entry) if self.as_json else line(entry))
            self.printed += 1
            if self.max_messages and self.printed >= self.max_messages:
                return False
        return True

    def start(self, last: int, from_beginning: bool) -> tuple[str, bool]:
        """Print the newest `last` events (every one kept, with `from_beginning`); returns the
        position to follow from, and whether to go on."""
        first = self._get(limit=PAGE if from_beginning else max(1, min(last, PAGE)))
        shown = list(first["items"])
        cursor = first["next_cursor"]
        while from_beginning and cursor:
            older = self._get(limit=PAGE, cursor=cursor)
            shown.extend(older["items"])
            cursor = older["next_cursor"]
        go_on = self._print(list(reversed(shown if from_beginning else shown[:last])))
        return str(first["poll_cursor"]), go_on

    def follow(self, after: str, interval_s: float, until: Callable[[], bool]) -> None:
        """Poll for new events until `until()` or `max_messages`."""
        while not until():
            page = self._get(limit=PAGE, after=after)
            after = page["poll_cursor"] or after
            if not self._print(page["items"]):
                return
            if not page["more"]:
                time.sleep(interval_s)


def run_tail(
    api: Api,
    queue: str,
    *,
    last: int,
    follow: bool,
    from_beginning: bool,
    max_messages: int,
    timeout_s: float,
    interval_s: float,
    as_json: bool,
) -> int:
    """The `tail` command; returns how many events it printed."""
    tail = Tail(api, queue, as_json, max_messages)
    deadline = time.monotonic() + timeout_s if timeout_s else None
    position, go_on = tail.start(last, from_beginning)
    if follow and go_on:
        tail.follow(position, interval_s, lambda: deadline is not None and time.monotonic() >= deadline)
    return tail.printed


def line(entry: dict[str, Any]) -> str:
    """A human line: when, which document, where it went and how urgent; ids only."""
    parts = [
        str(entry.get("published_at") or ""),
        str(entry.get("document_id") or "-"),
        str(entry.get("queue") or "-"),
        str(entry.get("category") or "-"),
        f"priority={bool(entry.get('priority'))}",
    ]
    if entry.get("due_by"):
        parts.append(f"due={entry['due_by']}")
    if entry.get("at_risk"):
        parts.append("at-risk")
    return "  ".join(parts)
