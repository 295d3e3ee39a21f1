"""The one consumer runner every service uses.

For each message: validate the envelope (an invalid one goes straight to `<topic>.dlq`),
skip it if this consumer group already applied its event id, else call the handler with
bounded retries and exponential backoff. A handler that still fails sends the message to
the DLQ with the error class, marks the document failed with a timeline entry, and the
runner moves on. Offsets are committed only after a message is applied or dead-lettered.

Tries are counted in PostgreSQL (`attempts.py`), before the handler runs and after it fails,
so the limits hold across restarts: a message that crashes or times out a worker process
(`workers.WorkerLost`) `MAILINTAKE_CONSUMER_MAX_WORKER_FAILURES` times, or that was started
`MAILINTAKE_CONSUMER_MAX_ATTEMPTS` times without an outcome (the service died under it), goes
to the DLQ with the reason instead of looping.

The handler does slow work (OCR, parsing) first, then opens `ctx.unit_of_work()` once to
save state and events; that unit of work claims the event id in the same transaction, so a
duplicate that races past the early check still changes nothing.

Partitions (issue 18, session 13): the runner takes the records the client has fetched for every
partition at once, into a queue per partition of at most two batches (`fetched.py`), and each
partition's task applies its next batch as soon as its last is done.

A partition's batch (issue 18): records of different documents are applied side by side (at most
`MAILINTAKE_CONSUMER_DOCUMENTS_PER_PARTITION`), each document's in order, and the offset committed
is the one after the last record before which all are finished (`batches.py`), at most once per
`MAILINTAKE_CONSUMER_COMMIT_INTERVAL_MS` while records keep coming (`offset_commits.py`).

Round trips (issue 18): the early checks and the tries' counts of a partition's batch are one
autocommitted statement, which also reads the details the handler declared it reads and the
small blobs of a handler that reads its event's blobs (`attempts.check_in_batch`,
`handler_context.reads_details`, `reads_blobs`; run on the driver connection: statements.py); a
retry, a second copy in the batch or an event counted before checks in alone (`attempts.check_in`).
The claim forgets the count in the same statement; both run again once on a fresh connection
when the pooled one was dead (`db.first_statement`, `db.alone`).
The unit of work's write-only statements (state, timeline, details, outbox row) go as one
statement after the claim and before COMMIT (`writes.py`): BEGIN, claim, writes, COMMIT; a unit
that only writes (`unit_of_work(claim_with_writes=True)`) sends the claim in that statement,
which then writes only if the id was claimed: one autocommitted statement in all; such units
that become ready while one of the same shape is in flight go together, in one transaction
(`group_commit.py`).

A broker that restarts empty leaves the client failing on fetch or commit; the runner then
closes the consumer and builds a new one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import attempts, tracing
from mailintake_common import observability as obs
from mailintake_common.batches import Progress, chains, first_copies
from mailintake_common.blobs import prefetched
from mailintake_common.db import autocommit, is_unavailable, ping
from mailintake_common.dead_lettering import dead_letter
from mailintake_common.details import TABLE_OF
from mailintake_common.events import SUPERSEDED, Envelope, InvalidEvent
from mailintake_common.failures import PermanentError
from mailintake_common.fetched import Fetched, fetch_into
from mailintake_common.handler_context import AlreadyProcessed, HandlerContext
from mailintake_common.kafka import consumer_kwargs, decode_headers
from mailintake_common.lag import LagTracker
from mailintake_common.offset_commits import OffsetCommits, Rebalances
from mailintake_common.replay import Seen, seen_before
from mailintake_common.s3 import ObjectStoreUnavailable
from mailintake_common.settings import CommonSettings
from mailintake_common.subscriptions import Handler, Parser, Subscription, parse_dead_letter_record, parse_record
from mailintake_common.workers import WorkerLost

__all__ = [
    "AlreadyProcessed",
    "ConsumerRunner",
    "Handler",
    "HandlerContext",
    "Parser",
    "PermanentError",
    "Subscription",
    "parse_dead_letter_record",
    "parse_record",
]
log = logging.getLogger(__name__)


@dataclass
class ConsumerRunner:
    """Consumes `subscriptions` as consumer group `group`. Run `run()` as a task."""

    engine: AsyncEngine
    settings: CommonSettings
    group: str
    subscriptions: list[Subscription]
    _consumer: AIOKafkaConsumer | None = field(default=None, init=False)
    started: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _lag: LagTracker | None = field(default=None, init=False)

    @property
    def lag(self) -> LagTracker:
        if self._lag is None:
            self._lag = LagTracker(self.group, self.settings.metrics_refresh_interval_s)
        return self._lag

    def membership(self) -> tuple[bool, bool]:
        """(consumer started, partitions assigned): what readiness asks of the loop (readiness.py)."""
        consumer = self._consumer
        if consumer is None:  # not started yet, or between a crash and the restart
            return False, False
        return True, bool(consumer.assignment())

    @property
    def _by_topic(self) -> dict[str, Subscription]:
        return {s.topic: s for s in self.subscriptions}

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer restarting", extra={"consumer": self.group, "error": type(exc).__name__})
                obs.CONSUMER_RECONNECTS.labels(self.group).inc()
                await asyncio.sleep(1.0)

    async def _consume(self) -> None:
        request_timeout_ms = max(self.settings.kafka_request_timeout_ms, self.settings.kafka_session_timeout_ms + 5000)
        consumer = AIOKafkaConsumer(**consumer_kwargs(self.settings, self.group, request_timeout_ms))
        rebalances = Rebalances(consumer, self.group)
        consumer.subscribe(list(self._by_topic), listener=rebalances)
        try:  # bounded: a TLS client on a plain listener waits for a handshake that never comes
            await asyncio.wait_for(consumer.start(), 2 * request_timeout_ms / 1000)
        except BaseException:
            with suppress(Exception):
                await consumer.stop()
            raise
        self._consumer = consumer
        sem = asyncio.Semaphore(self.settings.consumer_concurrency)
        # finished offsets, committed at most once per interval while records keep coming (issue 18)
        interval_s = self.settings.consumer_commit_interval_ms / 1000
        commits = rebalances.commits = OffsetCommits(consumer, interval_s, self.group)

        fetched = rebalances.fetched = Fetched(self.settings.consumer_batch_size)

        async def one_partition(tp: TopicPartition) -> None:
            """A partition's batches one after another, each as soon as the last is done (fetched.py)."""
            while True:
                records = await fetched.next_batch(tp)
                async with sem:
                    await self.apply_batch(tp, records, commits.finished)
                await commits.due()

        partitions: dict[TopicPartition, asyncio.Task[None]] = {}
        watching = asyncio.create_task(self.lag.watch(consumer), name=f"{self.group}-lag")
        try:
            self.started.set()
            while True:
                batches = await fetch_into(fetched, consumer)
                if batches is None:  # nothing to do: what finished is committed at once
                    await commits.now()
                for tp in batches or ():
                    if tp not in partitions:
                        name = f"{self.group}-{tp.topic}-{tp.partition}"
                        partitions[tp] = asyncio.create_task(one_partition(tp), name=name)
                for task in partitions.values():
                    if task.done():  # failed: the consumer starts again (run())
                        task.result()
        finally:
            self._consumer = None
            for task in [watching, *partitions.values()]:
                task.cancel()
            await asyncio.gather(watching, *partitions.values(), return_exceptions=True)
            # Graceful shutdown: commit what finished, then leave the group.
            with suppress(Exception):
                await asyncio.wait_for(commits.now(), 5)
            with suppress(Exception):
                await consumer.stop()

    async def apply_batch(
        self, tp: TopicPartition, records: list[ConsumerRecord], finished: dict[TopicPartition, int]
    ) -> None:
        """Apply a partition's batch: its events checked in with one statement, then different
        documents side by side (at most `consumer_documents_per_partition`), each document's
        records in order; `finished[tp]` follows the offset it is safe to commit (batches.py)."""
        sub = self._by_topic[tp.topic]
        parsed = {record.offset: self._parse(record, sub) for record in records}
        early = await self._check_in_batch(sub, records, parsed)
        progress = Progress([record.offset for record in records])
        side_by_side = asyncio.Semaphore(max(1, self.settings.consumer_documents_per_partition))

        async def one_document(chain: list[ConsumerRecord]) -> None:
            async with side_by_side:
                for record in chain:
                    await self.process(record, parsed[record.offset], early.get(record.offset))
                    if (next_offset := progress.finish(record.offset)) is not None:
                        finished[tp] = next_offset
                        self.lag.applied(tp, next_offset - 1)

        async with asyncio.TaskGroup() as group:  # one failing cancels the others
            for chain in chains(records):
                group.create_task(one_document(chain))

    async def _check_in_batch(
        self, sub: Subscription, records: list[ConsumerRecord], parsed: dict[int, Envelope[Any] | InvalidEvent]
    ) -> dict[int, attempts.Early]:
        """The batch's check-ins (and its stage's details), by offset: one statement (issue 18).
        A second copy of an event id in the batch checks in on its own, after the first."""
        firsts = first_copies(records, parsed)
        table = TABLE_OF[sub.details] if sub.details is not None else None
        events = [event for offset, _ in firsts.values() if isinstance(event := parsed[offset], Envelope)]
        shas = sub.blobs_to_read(self.settings, events)
        try:
            found = await attempts.check_in_batch(
                self.engine,
                self.group,
                [(event_id, doc) for event_id, (_, doc) in firsts.items()],
                table,
                shas,
                self.settings.consumer_prefetch_blob_bytes,
            )
        except Exception as exc:  # each event checks in on its own (and waits out the outage there)
            log.warning("batch check-in failed", extra={"consumer": self.group, "error": type(exc).__name__})
            return {}
        return {offset: one for (offset, _), one in zip(firsts.values(), found, strict=True)}

    def _parse(self, record: ConsumerRecord, sub: Subscription) -> Envelope[Any] | InvalidEvent:
        try:
            event = sub.parse(record)
        except InvalidEvent as exc:
            return exc
        if not self.settings.read_superseded_payloads and (event.event_type, event.schema_version) in SUPERSEDED:
            return InvalidEvent(f"invalid event: superseded version {event.event_type} v{event.schema_version}")
        return event

    async def process(
        self,
        record: ConsumerRecord,
        parsed: Envelope[Any] | InvalidEvent | None = None,
        early: attempts.Early | None = None,
    ) -> str:
        """Apply one record; returns the outcome ('applied', 'duplicate', 'dead-lettered').
        `parsed` and `early`: its event and check-in, when its batch made them (apply_batch)."""
        sub = self._by_topic[record.topic]
        started = time.perf_counter()
        trace_id, parent = tracing.incoming(decode_headers(record.headers), tracing.LEGACY_HEADER)
        # The trace goes on from the span that wrote the record (W3C traceparent header).
        with tracing.span(
            f"{self.group} {record.topic}",
            trace_id=trace_id,
            parent_span_id=parent,
            kind="consumer",
            **{"messaging.destination.name": record.topic, "messaging.consumer.group.name": self.group},
        ):
            event = self._parse(record, sub) if parsed is None else parsed
            if isinstance(event, InvalidEvent):
                await self._dead_letter(record, sub, None, str(event), trace_id)
                return self._count(record, None, "dead-lettered", started)
            outcome = await self._apply_with_retries(record, sub, event, trace_id, early)
            return self._count(record, event, outcome, started)

    def _count(self, record: ConsumerRecord, event: Envelope[Any] | None, outcome: str, started: float) -> str:
        """Metrics and one log line per event (the consumer's access log: ids and outcome only)."""
        where = (record.topic, record.partition, record.offset)
        ids = (event.event_type, event.document_id) if event else (None, None)
        obs.event_handled(self.group, where, ids, outcome, time.perf_counter() - started)
        return outcome

    async def _check_in(
        self, record: ConsumerRecord, event: Envelope[Any], attempt: int, early: attempts.Early | None
    ) -> tuple[Seen, attempts.Tally]:
        """New, a duplicate, or a replay of an event this group dead-lettered (replay.py); and,
        unless a duplicate, the tries so far with this one counted (one statement when new; none
        when its batch checked it in, `early`)."""
        if early is not None and early.settled:
            marker, tally = early.marker, early.tally
        else:
            marker, tally = await attempts.check_in(self.engine, self.group, event.event_id, event.document_id)
        seen = seen_before(marker, decode_headers(record.headers), record.timestamp)
        if seen == "duplicate":
            return seen, attempts.Tally(0, 0)
        if tally is None:  # a replay: marked, so not counted yet
            if attempt == 1:  # a replay counts its attempts afresh
                await autocommit(self.engine, lambda conn: attempts.forget(conn, self.group, event.event_id))
            tally = await attempts.begin(self.engine, self.group, event.event_id, event.document_id)
        return seen, tally

    async def _apply_with_retries(
        self,
        record: ConsumerRecord,
        sub: Subscription,
        event: Envelope[Any],
        trace_id: str,
        early: attempts.Early | None = None,
    ) -> str:
        delay = self.settings.consumer_backoff_initial_s
        attempt = 0  # this process's tries (PostgreSQL's count decides when to give up)
        seen: Seen = "new"
        while True:
            attempt += 1
            try:
                # the batch's check-in and details serve the first try; a retry checks in alone
                first, early = early, None
                seen, tally = await self._check_in(record, event, attempt, first)
                if seen == "duplicate":
                    return "duplicate"
                reason = self._give_up(tally, finished=False)
                if reason is not None and await self._dead_letter(
                    record, sub, event, reason, trace_id, tally, replay=seen == "replay"
                ):
                    return "dead-lettered"
                known = sub.details.model_validate(first.details) if sub.details and first and first.details else None
                ctx = HandlerContext(self.engine, self.group, event, trace_id, replay=seen == "replay", details=known)
                with prefetched(first.blobs if first else {}):  # read with the batch's check-in
                    await sub.handler(event, ctx)
                return "applied"
            except AlreadyProcessed:
                return "duplicate"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "handler failed",
                    exc_info=not isinstance(exc, PermanentError),
                    extra={
                        "consumer": self.group,
                        "document_id": event.document_id,
                        "event_id": event.event_id,
                        "attempt": attempt,
                        "error": type(exc).__name__,
                    },
                )
                if await self._outage(exc):
                    # The database or the bucket is down for every document: wait it out rather
                    # than fail documents; the try does not count toward the limit.
                    with suppress(Exception):
                        await attempts.not_counted(self.engine, self.group, event.event_id, type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.settings.consumer_backoff_max_s)
                    continue
                counted = await self._count_failure(event, exc)
                # a try the database could not count is not a reason to give up: it was down again
                reason = self._give_up(counted, finished=True) if counted else None
                if isinstance(exc, PermanentError):
                    reason = f"{type(exc).__name__} after {counted.attempts if counted else attempt} attempt(s)"
                # (when the dead letter cannot be written, the database itself is down: keep trying
                # rather than lose the message)
                if reason is not None and await self._dead_letter(
                    record, sub, event, reason, trace_id, counted, replay=seen == "replay"
                ):
                    return "dead-lettered"
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.consumer_backoff_max_s)

    def _give_up(self, tally: attempts.Tally, *, finished: bool) -> str | None:
        return attempts.give_up(
            tally,
            max_attempts=self.settings.consumer_max_attempts,
            max_worker_failures=self.settings.consumer_max_worker_failures,
            finished=finished,
        )

    async def _outage(self, exc: Exception) -> bool:
        """A store every document needs is down (a database error: a fresh connection fails too).
        A count kept in memory through an outage dead-lettered documents as the database came back."""
        if isinstance(exc, ObjectStoreUnavailable):
            return self.settings.consumer_wait_out_storage_outages
        return is_unavailable(exc) and not await ping(self.engine)

    async def _count_failure(self, event: Envelope[Any], exc: Exception) -> attempts.Tally | None:
        """Record the failure in PostgreSQL: the tally, or None when it could not be counted."""
        lost = isinstance(exc, WorkerLost)
        error = f"{type(exc).__name__}: {exc}" if lost else type(exc).__name__  # a lost worker's text is fixed
        try:
            return await attempts.failed(self.engine, self.group, event.event_id, error, lost)
        except Exception:
            return None

    async def _dead_letter(
        self,
        record: ConsumerRecord,
        sub: Subscription,
        event: Envelope[Any] | None,
        error: str,
        trace_id: str,
        tally: attempts.Tally | None = None,
        *,
        replay: bool = False,
    ) -> bool:
        """Send the record to `<topic>.dlq` (through the outbox) and note it on the document."""
        return await dead_letter(
            self.engine, self.group, record, sub.stage, event, error, trace_id, tally, replay=replay
        )
