"""The classifier's handler in-process on a real PostgreSQL, through the consumer runner (issue 18).

An e-mail and a web form are classified from blobs that came with their batch's check-in: the
batch takes its check-in and each document one write statement, nothing else. A part small
enough to reach the worker as bytes needs no spool (its directory is never named or looked for);
one over `part_spool_bytes` still reaches the worker as a spool file and reads the same. Each
part crosses to the worker with the few limits reading it needs, not the whole settings. The
stored text reads back from the blob store as the text `classify()` made.
"""

from __future__ import annotations

import json
import pickle
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiokafka import TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_classifier import handlers
from mailintake_classifier.adapters.ocr import OcrPool
from mailintake_classifier.adapters.parts import PartLimits, read_part
from mailintake_classifier.domain.classify import ItemText, Section, classify
from mailintake_classifier.settings import ClassifierSettings
from mailintake_common.blobs import blob_store
from mailintake_common.consumer import ConsumerRunner, Subscription
from mailintake_common.db import reading
from mailintake_common.events import TOPIC_SCREENED
from mailintake_common.tables import documents, outbox
from tests.classifier.screened_documents import SUBJECT, screened
from tests.support.statements import by_kind, statements_during, warmed_engine

pytestmark = pytest.mark.slow

LETTER = "Good morning, I am writing about the child support assessment for my daughter. " * 60


@pytest.fixture(scope="module")
def pool() -> Iterator[OcrPool]:
    pool = OcrPool(1, memory_bytes=0)
    yield pool
    pool.close()


@pytest.fixture
async def engine(counting_database: str) -> AsyncIterator[AsyncEngine]:
    async with warmed_engine(ClassifierSettings(database_url=counting_database)) as engine:
        yield engine


def runner(engine: AsyncEngine, settings: ClassifierSettings, pool: OcrPool) -> ConsumerRunner:
    subscription = Subscription(TOPIC_SCREENED, handlers.make_handler(settings, pool), "classifier")
    return ConsumerRunner(engine, settings, f"classifier-{uuid.uuid4().hex[:6]}", [subscription])


async def stored_text(engine: AsyncEngine, document_id: str) -> tuple[str, str]:
    """(status, the text the `classified` event names, read back from the blob store)."""
    async with reading(engine) as conn:
        status = (await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))).scalar()
        assert status == "classified", status
        row = select(outbox.c.value).where(
            outbox.c.document_id == document_id, outbox.c.topic == "mail.classifier.classified"
        )
        payload = json.loads((await conn.execute(row)).scalar_one())["payload"]
        return str(status), (await blob_store(conn).get(payload["text_blob"]["sha256"])).decode()


class Spied:
    """Counts the spools the handler opens and keeps what each part task pickled to."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, pool: OcrPool) -> None:
        self.spools = 0
        self.tasks: list[bytes] = []
        real_spool, real_run = handlers.spool, pool.run

        def spool(settings: Any) -> Any:
            self.spools += 1
            return real_spool(settings)

        async def run(fn: Any, *args: Any, timeout_s: float) -> Any:
            self.tasks.append(pickle.dumps((fn, args)))
            return await real_run(fn, *args, timeout_s=timeout_s)

        monkeypatch.setattr(handlers, "spool", spool)
        monkeypatch.setattr(pool, "run", run)


async def test_an_email_and_a_form_take_the_check_in_and_one_write_statement_each_and_no_spool(
    counting_database: str, engine: AsyncEngine, pool: OcrPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ClassifierSettings(database_url=counting_database)
    body = f"{uuid.uuid4().hex} {LETTER}"
    records = [await screened(engine, web, body, offset) for offset, web in enumerate((False, True))]
    spied = Spied(monkeypatch, pool)
    consumer = runner(engine, settings, pool)

    async def apply() -> None:
        await consumer.apply_batch(TopicPartition(TOPIC_SCREENED, 0), records, {})

    counted = await statements_during(counting_database, apply)
    # the batch's check-in (with the blobs and the screening details), then each document's write
    assert by_kind(counted) == Counter({"WITH": 3}) and sorted(counted.values()) == [1, 2], counted
    assert spied.spools == 0
    assert len(spied.tasks) == 2 and all(len(task) < len(body) + 1000 for task in spied.tasks)  # no settings
    email, form = [await stored_text(engine, r.key.decode()) for r in records]  # type: ignore[union-attr]
    expected = classify(ItemText("email", sections=[Section("subject", SUBJECT), Section("body", body)]))
    assert email == ("classified", expected.text)
    assert form[0] == "classified" and form[1].endswith(f"message: {body}".strip())


async def test_a_part_over_the_spool_threshold_reaches_the_worker_as_a_file_and_reads_the_same(
    counting_database: str, engine: AsyncEngine, pool: OcrPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = f"{uuid.uuid4().hex} {LETTER}"
    small, large = await screened(engine, False, body), await screened(engine, False, body)
    spied = Spied(monkeypatch, pool)
    await runner(engine, ClassifierSettings(database_url=counting_database), pool).apply_batch(
        TopicPartition(TOPIC_SCREENED, 0), [small], {}
    )
    assert spied.spools == 0
    spooling = ClassifierSettings(database_url=counting_database, part_spool_bytes=1000)
    await runner(engine, spooling, pool).apply_batch(TopicPartition(TOPIC_SCREENED, 0), [large], {})
    assert spied.spools == 1 and b"mailintake_common.spool" in spied.tasks[-1]  # a PartContent with a path
    assert await stored_text(engine, large.key.decode()) == await stored_text(engine, small.key.decode())  # type: ignore[union-attr]


def test_the_limits_a_part_crosses_with_read_it_as_the_whole_settings_do() -> None:
    settings = ClassifierSettings(max_chars_per_part=40)
    limits = PartLimits.of(settings)
    parts = [
        ("text_body", "text/plain", b"Hello " * 20),
        ("html_body", "text/html", b"<p>Hello <b>there</b></p><script>x()</script>"),
        ("form_fields", "application/json", json.dumps({"form_type": "t", "fields": {"a": "b"}}).encode()),
        ("attachment", "text/csv", b"name,note\n" * 10),
        ("attachment", "application/octet-stream", b"\x00\x01"),
        ("attachment", "application/pdf", b"%PDF-1.4 not really"),
    ]
    for kind, media_type, content in parts:
        for pages_left in (0, 10):
            args = (kind, media_type, "p0", "attachment 1", content)
            assert read_part(*args, limits, pages_left) == read_part(*args, settings, pages_left), (kind, media_type)
    assert len(pickle.dumps(limits)) < 400 < 2000 < len(pickle.dumps(settings))
