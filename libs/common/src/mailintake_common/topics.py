"""How each topic is made: partitions, replication factor and configs (issue 17).

Pure decisions; `kafka.apply_topics` does the broker work. Every service creates the topics it
uses at start-up from `topic_specs`: the defaults (`MAILINTAKE_TOPIC_PARTITIONS`,
`MAILINTAKE_TOPIC_REPLICATION_FACTOR`), the dead letters' retention (`MAILINTAKE_DLQ_RETENTION_MS`)
and `MAILINTAKE_TOPIC_OVERRIDES`, keyed by an exact topic name or a pattern (`*.dlq`,
`mail.queue.*`, `*`). Overrides apply from the least specific key to the most specific (any
pattern before an exact name; among patterns, the longer first), each one setting only what it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

DLQ_SUFFIX = ".dlq"
# Kafka's DescribeConfigs source for a config set on the topic itself (kept when configs are altered)
CONFIG_SOURCE_TOPIC = 1


class TopicOverride(BaseModel):
    """What `MAILINTAKE_TOPIC_OVERRIDES` may set for a topic or a pattern of topics."""

    model_config = ConfigDict(extra="forbid")

    partitions: int | None = Field(default=None, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    configs: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


def _specificity(key: str) -> tuple[int, int]:
    is_pattern = any(c in key for c in "*?[")
    return (0 if is_pattern else 1, len(key))


def topic_spec(
    name: str,
    *,
    partitions: int,
    replication_factor: int,
    dlq_retention_ms: int = 0,
    overrides: Mapping[str, TopicOverride] | None = None,
) -> TopicSpec:
    """The spec of one topic: defaults, then DLQ retention, then matching overrides."""
    configs: dict[str, str] = {}
    if name.endswith(DLQ_SUFFIX) and dlq_retention_ms > 0:
        configs["retention.ms"] = str(dlq_retention_ms)
    matching = sorted((k for k in (overrides or {}) if fnmatchcase(name, k)), key=_specificity)
    for key in matching:
        override = (overrides or {})[key]
        partitions = override.partitions or partitions
        replication_factor = override.replication_factor or replication_factor
        configs.update(override.configs)
    return TopicSpec(name, partitions, replication_factor, configs)


class TopicSettings(Protocol):
    """The settings `topic_specs` reads (CommonSettings has them)."""

    @property
    def topic_partitions(self) -> int: ...
    @property
    def topic_replication_factor(self) -> int: ...
    @property
    def dlq_retention_ms(self) -> int: ...
    @property
    def topic_overrides(self) -> Mapping[str, TopicOverride]: ...


def topic_specs(names: Iterable[str], settings: TopicSettings) -> list[TopicSpec]:
    return [
        topic_spec(
            name,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            dlq_retention_ms=settings.dlq_retention_ms,
            overrides=settings.topic_overrides,
        )
        for name in sorted(set(names))
    ]


def config_changes(wanted: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """The wanted configs an existing topic does not have yet (by value)."""
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def altered_configs(wanted: Mapping[str, str], set_on_topic: Mapping[str, str]) -> dict[str, str]:
    """The whole config set to send with AlterConfigs, which replaces every topic-level config:
    what was set on the topic before (by an operator too) stays unless this service sets it."""
    return {**set_on_topic, **wanted}
