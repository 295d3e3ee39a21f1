"""Transactional outbox and its relay.

`Outbox.add` writes an event in the caller's transaction, so an event exists if and only if
the state it announces was committed. The `Relay` publishes unpublished rows in id order and
stamps them only after the broker has acknowledged them (acks=all). A row the broker never
acknowledged stays unpublished and is sent again, so delivery is at least once; consumers
dedupe by event id.

Only one relay publishes at a time, whichever process holds a PostgreSQL advisory lock; the
others wait as hot standbys. That keeps the global order of the outbox, and a relay that dies
releases the lock with its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    all_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import blob_links, statements, tracing
from mailintake_common import observability as obs
from mailintake_common.db import reading
from mailintake_common.events import Envelope
from mailintake_common.kafka import apply_topics, kafka_client_kwargs, kafka_headers
from mailintake_common.relay_listening import OUTBOX_CHANNEL, Listening
from mailintake_common.settings import CommonSettings
from mailintake_common.statements import Statement
from mailintake_common.tables import documents, outbox
from mailintake_common.topics import topic_specs
from mailintake_common.writes import Writes, rows_insert

log = logging.getLogger(__name__)

RELAY_LOCK_ID = 0x6D61696C01  # "mail" + 1: the advisory lock that elects the active relay


def encode(event: Envelope[BaseModel]) -> bytes:
    return event.model_dump_json().encode()


class Outbox:
    """Adds rows in the caller's transaction; with `writes` (a unit of work's), the row, its links
    and the NOTIFY wait for the unit's one write statement before COMMIT (issue 18)."""

    def __init__(self, conn: AsyncConnection, writes: Writes | None = None) -> None:
        self._conn = conn
        self._writes = writes

    async def add(self, topic: str, event: Envelope[BaseModel], *, trace_id: str | None = None) -> None:
        shas = blob_links.shas_in(event.payload)  # for retention
        await blob_links.link(self._conn, event.document_id, shas, self._writes)
        await self.add_raw(
            topic,
            event_id=event.event_id,
            event_type=event.event_type,
            document_id=event.document_id,
            key=event.document_id,
            value=encode(event),
            trace_id=trace_id or tracing.current_trace_id() or event.event_id,
        )

    async def add_raw(
        self,
        topic: str,
        *,
        event_id: str,
        event_type: str,
        document_id: str | None,
        key: str | None,
        value: bytes,
        trace_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        # One statement (issue 18): the row, and a notification that wakes the relay when the
        # transaction commits (PostgreSQL folds repeats within one transaction).
        row = {
            "event_id": event_id,
            "event_type": event_type,
            "document_id": document_id,
            "topic": topic,
            "key": key,
            "value": value,
            "headers": {**(headers or {}), "event_type": event_type, **trace_headers(trace_id)},
        }
        if self._writes is not None:
            await self._writes.add(self._conn, OUTBOX_ROWS, row)
        else:
            await self._conn.execute(_ADD, row)


_COLUMNS = ("event_id", "event_type", "document_id", "topic", "key", "value", "headers")


def _add_statement() -> Select[Any]:
    """Built once (issue 18): building a statement costs more CPU than running it."""
    added = (
        outbox.insert()
        .values({name: bindparam(name, type_=outbox.c[name].type) for name in _COLUMNS})
        .returning(outbox.c.id)
        .cte("added")
    )
    return select(func.pg_notify(OUTBOX_CHANNEL, "")).select_from(added)


_ADD = _add_statement()
OUTBOX_ROWS = rows_insert("outbox", outbox, _COLUMNS, notify=OUTBOX_CHANNEL)  # deferred rows (issue 18)


# The relay's statements, built once (issue 18): a round reads the next batch in order (off the
# partial index on unpublished rows) and stamps the previous round's acknowledged rows, left out
# of the batch by id since both see one snapshot; `_STAMP` alone when no round follows.
_IDS = bindparam("stamp", type_=ARRAY(BigInteger))
_UNSTAMPED = outbox.c.published_at.is_(None)  # a stamp never moves another (the feed's positions)
# Both run on the driver connection (statements.py, session 10): SQLAlchemy's execution around
# them cost the relay's process more than building and sending each batch's records.
_STAMP_CLAUSE = update(outbox).where(outbox.c.id == any_(_IDS), _UNSTAMPED).values(published_at=func.now())
_STAMP: Statement[Any] = Statement(_STAMP_CLAUSE)
_ROUND: Statement[Any] = Statement(
    select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers)
    .where(_UNSTAMPED, outbox.c.id != all_(_IDS))
    .order_by(outbox.c.id)
    .limit(bindparam("batch", type_=Integer))
    .add_cte(_STAMP_CLAUSE.cte("stamped"))
)
# The relay's session finds rows by index only: a prepared statement keeps the plan made at its
# sixth call until the table is analysed, and made on a small outbox the stamp's read the whole
# table each time (0.9 ms of PostgreSQL CPU per document). Its statements only need an index.
INDEX_ONLY = "SET enable_seqscan = off"
ANY_SCAN = "RESET enable_seqscan"


def trace_headers(trace_id: str | None) -> dict[str, str]:
    """`trace_id` and W3C `traceparent`: the trace the row was written in, for the next consumer."""
    return tracing.outgoing_headers(trace_id) or tracing.outgoing_headers(uuid.uuid4().hex)


class Relay:
    """Publishes the outbox. Run `run()` as a task; cancel it to stop."""

    def __init__(self, engine: AsyncEngine, settings: CommonSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._topics_seen: set[str] = set()
        self._topics_checked_at = 0.0
        self.is_leader = False
        self._unstamped: list[int] = []  # acknowledged by the broker, not yet stamped

    async def run(self) -> None:
        while True:
            try:
                async with self._engine.connect() as lock_conn:
                    got = (
                        await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RELAY_LOCK_ID})
                    ).scalar()
                    await lock_conn.commit()
                    if not got:  # a standby: each try is a checkout and a statement (issue 18)
                        await asyncio.sleep(self._settings.relay_standby_retry_s)
                        continue
                    # Each statement its own transaction from here: the rounds run on this
                    # connection, and a session inside a transaction gets no notifications.
                    await lock_conn.execution_options(isolation_level="AUTOCOMMIT")
                    await lock_conn.exec_driver_sql(INDEX_ONLY)
                    self.is_leader = True
                    obs.RELAY_LEADER.set(1)
                    log.info("relay elected")
                    try:
                        await self._publish_forever(lock_conn)
                    except BaseException:  # failed, or stopped (cancelled) while the engine lives on
                        # Returned to the pool, the connection would keep the session's lock and
                        # no relay could take it: closed, it frees the lock for the next election.
                        with contextlib.suppress(Exception):
                            await lock_conn.invalidate()
                        raise
                    finally:
                        self.is_leader = False
                        obs.RELAY_LEADER.set(0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database gone: wait and try again
                log.warning("relay paused", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)
            finally:
                await self._close_producer()

    async def _publish_forever(self, lock_conn: AsyncConnection) -> None:
        """Publish whenever a committed transaction added events (LISTEN/NOTIFY on the lock
        connection), polling as well in case a notification is missed or cannot be had. After
        `relay_busy_rounds_before_unlisten` busy rounds in a row it stops listening and runs
        its rounds back to back until one comes back empty (relay_listening.py)."""
        wake = asyncio.Event()
        listening = Listening(wake)
        await listening.start(lock_conn)
        settings = self._settings
        # Listening, a round only follows a notification (or, rarely, a lost one): each idle
        # round is a query paid every interval, so the fallback is slow (issue 18).
        poll = settings.relay_fallback_poll_interval_s if listening.available else settings.relay_poll_interval_s
        busy_before_unlisten = settings.relay_busy_rounds_before_unlisten if listening.available else 0
        housekeeping_due = time.monotonic() + settings.relay_housekeeping_interval_s
        busy = 0  # busy rounds in a row: each found rows, and more were committed meanwhile
        try:
            while True:
                if time.monotonic() >= housekeeping_due:  # the rounds keep the lock connection honest
                    housekeeping_due = time.monotonic() + settings.relay_housekeeping_interval_s
                    await self._prune()
                wake.clear()
                started = time.monotonic()
                sent = await self.publish_once(lock_conn, defer_stamp=True)
                if listening.paused:
                    if sent:
                        await self._pace(started, sent)
                        continue  # more may be there: the next round (it stamps these)
                    await listening.resume()
                    busy = 0
                    continue  # one more round: what was committed before the LISTEN notified nobody
                if sent >= settings.relay_batch_size or (self._unstamped and wake.is_set()):
                    busy += 1
                    if busy_before_unlisten and busy >= busy_before_unlisten:
                        await listening.pause()
                    await self._pace(started, sent)
                    continue  # a round is due: its statement stamps these rows
                busy = 0
                await self.stamp(lock_conn)  # nothing more to send yet: stamped now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), poll)
                if listening.lost:  # the session, and with it the lock, is gone: elect again
                    raise ConnectionError("relay lock connection lost")
        finally:
            with contextlib.suppress(Exception):  # the lock connection may go back to the pool
                await lock_conn.exec_driver_sql(ANY_SCAN)
                await self.stamp(lock_conn)  # else the next leader sends them again (at least once)
            self._unstamped = []
            with contextlib.suppress(Exception):
                await listening.stop()

    async def _pace(self, started: float, sent: int) -> None:
        """A busy relay's next round starts `relay_busy_round_interval_ms` after this one started
        (issue 18, session 12): a round costs the relay, its backend and the broker about as much
        for a few rows as for many, and at saturation rounds back to back carried a few rows each.
        A full round goes on at once (a backlog); an idle relay's round follows its notification."""
        if sent < self._settings.relay_batch_size:
            wait = started + self._settings.relay_busy_round_interval_ms / 1000 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **kafka_client_kwargs(self._settings),
                acks="all",
                enable_idempotence=False,  # the broker here cannot do InitProducerId
                request_timeout_ms=self._settings.kafka_request_timeout_ms,
                linger_ms=5,
            )
            try:  # bounded: a TLS client on a plain listener waits for a handshake that never comes
                await asyncio.wait_for(producer.start(), self._settings.kafka_request_timeout_ms / 1000)
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def publish_once(self, conn: AsyncConnection | None = None, *, defer_stamp: bool = False) -> int:
        """Publish one batch of unpublished rows in order; returns how many were acknowledged.

        The rows are stamped only once the broker acknowledged them. With `defer_stamp` (the
        elected relay's rounds), they wait for the next round's statement or `stamp`; a round
        stamps the rows still waiting first, in the statement that reads the next batch.
        The elected relay passes its lock connection (autocommit), so a round checks nothing
        out of the pool; called alone, a pooled connection is used."""
        if conn is None:
            async with reading(self._engine) as pooled:  # each statement its own transaction (issue 18)
                return await self.publish_once(pooled, defer_stamp=defer_stamp)
        stamping, self._unstamped = self._unstamped, []
        try:
            rows = await statements.run(conn, _ROUND, {"stamp": stamping, "batch": self._settings.relay_batch_size})
        except BaseException:
            self._unstamped = stamping  # not stamped (or stamped, and stamping again is harmless)
            raise
        acked, failure = await self._send(rows) if rows else ([], None)
        self._unstamped = acked
        if acked:
            obs.OUTBOX_PUBLISHED.inc(len(acked))
        if failure is not None or not defer_stamp:
            await self.stamp(conn)
        if failure is not None:
            log.warning("broker refused publish; will resend", extra={"error": type(failure).__name__})
            obs.OUTBOX_PUBLISH_ERRORS.inc()
            await self._close_producer()  # a restarted broker needs fresh metadata
            await asyncio.sleep(0.5)
        return len(acked)

    async def stamp(self, conn: AsyncConnection) -> None:
        """Stamp the acknowledged rows a round left waiting (none: no statement)."""
        if stamping := self._unstamped:
            await statements.run(conn, _STAMP, {"stamp": stamping})
            self._unstamped = []

    async def _send(self, rows: Sequence[Any]) -> tuple[list[int], BaseException | None]:
        """Send `rows` in order: the ids the broker acknowledged (a prefix), and why the rest were not."""
        try:
            producer = await self._ensure_producer()
            if not await self._topics_exist(producer, {r["topic"] for r in rows}):
                await self._close_producer()  # fresh metadata for the recreated topics
                return [], None
            futures = [
                await producer.send(
                    r["topic"],
                    value=bytes(r["value"]),
                    key=r["key"].encode() if r["key"] else None,
                    headers=kafka_headers(r["headers"]),
                )
                for r in rows
            ]
            acked: list[int] = []
            for row, fut in zip(rows, futures, strict=True):
                try:
                    await fut
                except KafkaError as exc:
                    return acked, exc  # keep order: nothing after an unacknowledged row is stamped
                acked.append(row["id"])
            return acked, None
        except KafkaError as exc:
            return [], exc

    async def _topics_exist(self, producer: AIOKafkaProducer, topics: set[str]) -> bool:
        """Check, at most once per `relay_topic_check_interval_s`, that the broker still has our topics.

        A broker restarted empty (Tansu keeps data in memory) can acknowledge sends from a
        producer with stale metadata to topics it no longer lists, and those records are lost.
        When a topic is missing it is created again and the caller starts a fresh producer;
        events acknowledged in the gap are recovered by the reconciler.
        """
        now = time.monotonic()
        if topics <= self._topics_seen and now - self._topics_checked_at < self._settings.relay_topic_check_interval_s:
            return True
        existing = (await producer.client.fetch_all_metadata()).topics()
        self._topics_checked_at = now
        missing = (topics | self._topics_seen) - existing
        if not missing:
            self._topics_seen |= topics
            return True
        log.warning("topics missing on the broker; recreating", extra={"count": len(missing)})
        await apply_topics(self._settings, topic_specs(missing, self._settings))
        self._topics_seen = set()
        return False

    async def _prune(self) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(outbox).where(
                    # a failed document's events are what a retry republishes (recovery.py): kept
                    ~exists().where(documents.c.document_id == outbox.c.document_id, documents.c.status == "failed"),
                    outbox.c.published_at.is_not(None),
                    outbox.c.published_at
                    < func.now() - text(f"interval '{int(self._settings.outbox_retention_hours)} hours'"),
                )
            )


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, default=str).encode()
