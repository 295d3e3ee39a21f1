"""The relay's LISTEN on its lock connection, which it can pause while its rounds keep finding rows
(issue 18, session 9).

Every transaction that adds an outbox row notifies (about four a document). While the relay is
listening, PostgreSQL signals its backend for each one, the backend reads the notification queue
and sends it, and the driver wakes the relay. At saturation the relay's rounds follow each other
anyway (each finds the rows committed while the previous one was being sent), so those wake-ups
are paid for nothing. The relay stops listening after a few busy rounds in a row and listens
again when a round comes back empty; it then runs one more round before it waits, since a row
committed between the empty round and the LISTEN notified nobody. While it is not listening its
rounds wait only for the busy-round interval (`Relay._pace`, session 12), so no row waits longer
than that interval and a round.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "mailintake_outbox"  # NOTIFY channel: an outbox row was committed


class Listening:
    """LISTEN on the relay's lock connection, paused and resumed; also told when the connection
    closes (a database restart): between slow fallback rounds the relay would not otherwise see
    that it no longer holds the lock."""

    def __init__(self, wake: asyncio.Event) -> None:
        self.wake = wake
        self.lost = False  # the session, and with it the lock, is gone
        self.paused = False
        self._driver: Any = None

    @property
    def available(self) -> bool:
        """The driver listens: the relay may wait for a notification (else it polls)."""
        return self._driver is not None

    def _notified(self, *_: Any) -> None:
        self.wake.set()

    def _terminated(self, *_: Any) -> None:
        self.lost = True
        self.wake.set()

    async def start(self, lock_conn: AsyncConnection) -> None:
        try:
            raw = await lock_conn.get_raw_connection()
            driver = raw.driver_connection
            await driver.add_listener(OUTBOX_CHANNEL, self._notified)  # type: ignore[union-attr]
            driver.add_termination_listener(self._terminated)  # type: ignore[union-attr]
            self._driver = driver
        except Exception as exc:
            log.warning("relay cannot listen for notifications; polling", extra={"error": type(exc).__name__})

    async def pause(self) -> None:
        """UNLISTEN: the rounds keep finding rows, so they follow each other without being woken."""
        if self._driver is not None and not self.paused:
            await self._driver.remove_listener(OUTBOX_CHANNEL, self._notified)
            self.paused = True

    async def resume(self) -> None:
        """LISTEN again. The caller runs a round before it waits: rows committed before this
        LISTEN took effect notified nobody, and that round's snapshot sees them."""
        if self._driver is not None and self.paused:
            await self._driver.add_listener(OUTBOX_CHANNEL, self._notified)
            self.paused = False

    async def stop(self) -> None:
        if self._driver is not None:
            self._driver.remove_termination_listener(self._terminated)
            if not self.paused:
                await self._driver.remove_listener(OUTBOX_CHANNEL, self._notified)
            self._driver = None
