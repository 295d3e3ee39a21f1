"""Topic specs: partitions, replication factor and configs per topic (issue 17)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mailintake_common.settings import CommonSettings
from mailintake_common.topics import TopicOverride, altered_configs, config_changes, topic_spec, topic_specs

DAY_MS = 24 * 3600 * 1000


def test_defaults_come_from_the_settings_and_dead_letters_get_their_retention() -> None:
    settings = CommonSettings(topic_partitions=6, topic_replication_factor=3, dlq_retention_ms=14 * DAY_MS)
    specs = {s.name: s for s in topic_specs(["mail.intake.received", "mail.intake.received.dlq"], settings)}
    assert (specs["mail.intake.received"].partitions, specs["mail.intake.received"].replication_factor) == (6, 3)
    assert specs["mail.intake.received"].configs == {}
    assert specs["mail.intake.received.dlq"].configs == {"retention.ms": str(14 * DAY_MS)}


def test_dead_letters_are_kept_thirty_days_unless_told_otherwise() -> None:
    assert CommonSettings().dlq_retention_ms == 30 * DAY_MS
    assert topic_spec("a.dlq", partitions=1, replication_factor=1, dlq_retention_ms=0).configs == {}


def test_the_most_specific_override_applies_last_and_each_sets_only_what_it_names() -> None:
    overrides = {
        "*": TopicOverride(replication_factor=3, configs={"min.insync.replicas": "2"}),
        "mail.*": TopicOverride(partitions=8),
        "mail.classifier.*": TopicOverride(partitions=16),
        "mail.classifier.classified": TopicOverride(partitions=12, configs={"min.insync.replicas": "3"}),
    }
    classified = topic_spec("mail.classifier.classified", partitions=4, replication_factor=1, overrides=overrides)
    assert (classified.partitions, classified.replication_factor) == (12, 3)
    assert classified.configs == {"min.insync.replicas": "3"}
    dlq = topic_spec(
        "mail.classifier.classified.dlq", partitions=4, replication_factor=1, dlq_retention_ms=1000, overrides=overrides
    )
    assert (dlq.partitions, dlq.replication_factor) == (16, 3)
    assert dlq.configs == {"retention.ms": "1000", "min.insync.replicas": "2"}
    other = topic_spec("audit.trail", partitions=4, replication_factor=1, overrides=overrides)
    assert (other.partitions, other.replication_factor) == (4, 3)


def test_an_override_may_set_the_dead_letter_retention_of_one_topic() -> None:
    overrides = {"mail.queue.*.dlq": TopicOverride(configs={"retention.ms": "60000"})}
    spec = topic_spec(
        "mail.queue.racs.dlq", partitions=4, replication_factor=1, dlq_retention_ms=9, overrides=overrides
    )
    assert spec.configs == {"retention.ms": "60000"}


def test_overrides_are_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MAILINTAKE_TOPIC_OVERRIDES",
        '{"mail.quarantine.screened": {"partitions": 10, "configs": {"retention.ms": "604800000"}}}',
    )
    [spec] = topic_specs(["mail.quarantine.screened"], CommonSettings())
    assert spec.partitions == 10
    assert spec.configs == {"retention.ms": "604800000"}


def test_a_mistyped_override_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILINTAKE_TOPIC_OVERRIDES", '{"*": {"partition": 10}}')
    with pytest.raises(ValidationError):
        CommonSettings()
    with pytest.raises(ValidationError):
        TopicOverride(partitions=0)


def test_only_configs_that_differ_are_changes_and_an_alter_keeps_what_an_operator_set() -> None:
    wanted = {"retention.ms": "1000", "cleanup.policy": "delete"}
    assert config_changes(wanted, {"retention.ms": "1000", "cleanup.policy": "delete"}) == {}
    assert config_changes(wanted, {"retention.ms": "604800000", "cleanup.policy": "delete"}) == {"retention.ms": "1000"}
    assert altered_configs({"retention.ms": "1000"}, {"retention.ms": "5", "max.message.bytes": "2097152"}) == {
        "retention.ms": "1000",
        "max.message.bytes": "2097152",
    }
