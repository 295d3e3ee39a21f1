"""Topics are created with their partitions and configs; an existing topic's configs are altered
where the broker can, and where it cannot (Tansu) the refusal is logged without details (issue 17)."""

from __future__ import annotations

import logging
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from mailintake_common.kafka import apply_topics
from mailintake_common.topics import TopicSpec
from tests.support.stack import Infra


async def describe(bootstrap: str, name: str) -> tuple[int, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [topic] = await admin.describe_topics([name])
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        configs = {e[0]: e[1] for r in responses for res in r.resources for e in res[4]}
        return len(topic["partitions"]), configs
    finally:
        await admin.close()


async def test_a_dead_letter_topic_is_created_with_its_partitions_and_retention(infra: Infra) -> None:
    name = f"test.topics.{uuid.uuid4().hex[:8]}.dlq"
    await apply_topics(infra.bootstrap, [TopicSpec(name, 3, 1, {"retention.ms": "86400000"})])
    partitions, configs = await describe(infra.bootstrap, name)
    assert partitions == 3
    assert configs.get("retention.ms") == "86400000"


async def test_an_existing_topic_gets_new_configs_or_a_plain_warning(
    infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"test.topics.{uuid.uuid4().hex[:8]}.dlq"
    await apply_topics(infra.bootstrap, [TopicSpec(name, 2, 1, {"retention.ms": "86400000"})])
    caplog.set_level(logging.INFO, logger="mailintake_common.kafka")
    await apply_topics(infra.bootstrap, [TopicSpec(name, 4, 1, {"retention.ms": "3600000"})])
    _, configs = await describe(infra.bootstrap, name)
    records = [r for r in caplog.records if r.name == "mailintake_common.kafka"]
    altered = [r for r in records if r.getMessage() == "topic configs altered"]
    refused = [r for r in records if r.getMessage().startswith("topic configs not applied")]
    if configs.get("retention.ms") == "3600000":  # a broker with AlterConfigs (Apache Kafka)
        assert altered
    else:  # Tansu answers AlterConfigs as unknown: the topic keeps its configs and the log says so
        assert configs.get("retention.ms") == "86400000"
        assert refused and refused[0].levelno == logging.WARNING
        assert getattr(refused[0], "topic", None) == name
        assert getattr(refused[0], "error", None)
    fewer = [r for r in records if r.getMessage() == "topic has fewer partitions than configured"]
    assert fewer and getattr(fewer[0], "count", None) == 2  # partitions are never changed on an existing topic


async def test_a_topic_already_as_configured_is_left_alone(infra: Infra, caplog: pytest.LogCaptureFixture) -> None:
    name = f"test.topics.{uuid.uuid4().hex[:8]}"
    spec = TopicSpec(name, 2, 1, {"retention.ms": "7200000"})
    await apply_topics(infra.bootstrap, [spec])
    caplog.set_level(logging.INFO, logger="mailintake_common.kafka")
    await apply_topics(infra.bootstrap, [spec])
    assert not [r for r in caplog.records if r.name == "mailintake_common.kafka"]
