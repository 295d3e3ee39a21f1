"""The whole pipeline against bad input: poison messages on every topic, and every corpus file."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests.factories.documents import email_bytes
from tests.support.api import client, wait_for_status
from tests.support.kafka import read_topic
from tests.support.stack import Infra, Service

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CONSUMED_TOPICS = ("mail.intake.received", "mail.quarantine.screened", "mail.classifier.classified")


async def test_a_poison_message_on_every_topic_goes_to_its_dlq_and_the_consumers_carry_on(
    stack: dict[str, Service], infra: Infra
) -> None:
    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for topic in CONSUMED_TOPICS:
            await producer.send_and_wait(topic, f'{{"poison": "{marker}"'.encode(), key=marker.encode())
    finally:
        await producer.stop()
    for topic in CONSUMED_TOPICS:
        dead = await read_topic(infra.bootstrap, f"{topic}.dlq", lambda vs: any(marker in v["value"] for v in vs), 60)
        assert any(v["error"].startswith("invalid event") for v in dead if marker in v["value"])
    async with client(stack["intake"].base_url) as http:
        response = await http.post(
            "/v1/emails?mailbox=edc",
            content=email_bytes(body=f"after poison {marker}"),
            headers={"Content-Type": "message/rfc822"},
        )
        doc = await wait_for_status(http, response.json()["document_id"], {"routed"}, 90)
    assert doc["routing"]["queue"]


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and "LICENSES" not in p.parts and p.suffix != ".md")


@pytest.mark.slow
async def test_every_corpus_file_goes_through_the_whole_pipeline(stack: dict[str, Service]) -> None:
    files = corpus_files()
    assert len(files) > 100
    ids: dict[str, Path] = {}
    async with client(stack["intake"].base_url) as http:
        for path in files:
            content = path.read_bytes()
            if path.parent.name == "cpython-test_email":
                response = await http.post(
                    "/v1/emails?mailbox=webmaster",
                    content=content,
                    headers={"Content-Type": "message/rfc822", "Idempotency-Key": str(path)},
                )
                if response.status_code == 422:  # not an RFC 822 message at all: refused at the door, clearly
                    assert response.json()["error"] == "invalid_email"
                    continue
            else:
                response = await http.post(
                    "/v1/webforms",
                    headers={"Idempotency-Key": str(path)},
                    json={
                        "form_type": "other",
                        "submitted_at": "2026-11-24T00:00:00Z",
                        "fields": {"note": "corpus"},
                        "attachments": [{"filename": path.name, "content_base64": base64.b64encode(content).decode()}],
                    },
                )
            assert response.status_code in (200, 202), (path.name, response.text)
            ids[response.json()["document_id"]] = path
        results = await asyncio.gather(*(wait_for_status(http, i, {"routed", "failed"}, 240) for i in ids))
    failed = [ids[r["document_id"]].name for r in results if r["status"] != "routed"]
    assert failed == []
    assert len(results) == len(ids)
