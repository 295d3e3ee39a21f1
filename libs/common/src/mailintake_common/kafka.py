"""How every process talks to the broker: the client options (TLS, SASL), checked once at
start-up, and the small chores every process needs (is the broker there, do the topics exist).

Every Kafka client the project makes (the consumer runner, the outbox relay's producer, the
admin clients here, the dead-letter reader) takes its options from `kafka_client_kwargs`, so
one set of `MAILINTAKE_KAFKA_*` settings secures them all (docs/operations.md, "Security").
A setting that is missing, contradictory or names an unreadable file raises
`KafkaSecurityError` naming the setting; services call `check_kafka_security` before they
serve, so a bad combination stops the process at start-up instead of failing mid-run.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from mailintake_common.settings import CommonSettings
from mailintake_common.topics import CONFIG_SOURCE_TOPIC, TopicSpec, altered_configs, config_changes

log = logging.getLogger(__name__)


TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_PREFIX = "MAILINTAKE_"


class KafkaSecurityError(ValueError):
    """A Kafka security setting is missing, contradictory or unreadable; `detail` names the
    setting and never carries a secret."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _name(field: str) -> str:
    return _PREFIX + field.upper()


def _readable(settings: CommonSettings, field: str) -> str:
    path = getattr(settings, field)
    try:
        with Path(path).open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise KafkaSecurityError(f"{_name(field)}: cannot read {path} ({type(exc).__name__})") from None
    return str(path)


def _tls_settings_problem(settings: CommonSettings) -> str | None:
    """TLS or SASL settings given for a protocol that does not use them: refused, so that
    certificates or a password set up with the protocol forgotten never mean plain traffic."""
    protocol = settings.kafka_security_protocol
    protocol_setting = f"{_name('kafka_security_protocol')}={protocol}"
    if protocol not in TLS_PROTOCOLS:
        for field in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            if getattr(settings, field):
                return f"{_name(field)} is set but {protocol_setting} does not use TLS (use SSL or SASL_SSL)"
    if protocol not in SASL_PROTOCOLS:
        for field in ("kafka_sasl_username", "kafka_sasl_password"):
            if getattr(settings, field):
                return f"{_name(field)} is set but {protocol_setting} does not use SASL"
    return None


def _sasl_kwargs(settings: CommonSettings) -> dict[str, Any]:
    protocol = settings.kafka_security_protocol
    mechanism = settings.kafka_sasl_mechanism
    user = settings.kafka_sasl_username
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    for field, value in (("kafka_sasl_username", user), ("kafka_sasl_password", password)):
        if not value:
            raise KafkaSecurityError(f"{_name(field)} is required when {_name('kafka_security_protocol')}={protocol}")
    if protocol == "SASL_PLAINTEXT" and mechanism == "PLAIN":
        raise KafkaSecurityError(
            f"{_name('kafka_sasl_mechanism')}=PLAIN over SASL_PLAINTEXT would send the password in clear: "
            "use a SCRAM mechanism or SASL_SSL"
        )
    return {"sasl_mechanism": mechanism, "sasl_plain_username": user, "sasl_plain_password": password}


def kafka_ssl_context(settings: CommonSettings) -> ssl.SSLContext:
    """The client's TLS context: the broker's certificate must chain to the configured CA (or
    the system's, if allowed) and, unless turned off, name the host connected to."""
    protocol = settings.kafka_security_protocol
    cafile = _readable(settings, "kafka_ssl_cafile") if settings.kafka_ssl_cafile else None
    if cafile is None and not settings.kafka_ssl_system_ca:
        raise KafkaSecurityError(
            f"{_name('kafka_ssl_cafile')} is required when {_name('kafka_security_protocol')}={protocol} "
            f"(or set {_name('kafka_ssl_system_ca')}=true to trust the system's certificate authorities)"
        )
    context = ssl.create_default_context() if settings.kafka_ssl_system_ca else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = settings.kafka_ssl_check_hostname
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=cafile)
        except (ssl.SSLError, ValueError) as exc:
            detail = f"{_name('kafka_ssl_cafile')}: {cafile} holds no PEM certificate ({type(exc).__name__})"
            raise KafkaSecurityError(detail) from None
    if settings.kafka_ssl_keyfile and not settings.kafka_ssl_certfile:
        raise KafkaSecurityError(f"{_name('kafka_ssl_keyfile')} is set without {_name('kafka_ssl_certfile')}")
    if settings.kafka_ssl_certfile:  # mutual TLS: the client proves who it is
        certfile = _readable(settings, "kafka_ssl_certfile")
        keyfile = _readable(settings, "kafka_ssl_keyfile") if settings.kafka_ssl_keyfile else None
        key_password = settings.kafka_ssl_key_password
        try:
            context.load_cert_chain(certfile, keyfile, key_password.get_secret_value() if key_password else None)
        except (ssl.SSLError, ValueError) as exc:
            raise KafkaSecurityError(
                f"{_name('kafka_ssl_certfile')} / {_name('kafka_ssl_keyfile')}: not a PEM certificate with its "
                f"matching private key, or {_name('kafka_ssl_key_password')} is wrong ({type(exc).__name__})"
            ) from None
    return context


def kafka_client_kwargs(settings: CommonSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (consumer, producer, admin): where the broker
    is and how to talk to it securely. Raises KafkaSecurityError naming a bad setting."""
    problem = _tls_settings_problem(settings)
    if problem:
        raise KafkaSecurityError(problem)
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap, "security_protocol": protocol}
    if protocol in TLS_PROTOCOLS:
        kwargs["ssl_context"] = kafka_ssl_context(settings)
    if protocol in SASL_PROTOCOLS:
        kwargs.update(_sasl_kwargs(settings))
    return kwargs


def kafka_headers(headers: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [(k, str(v).encode()) for k, v in headers.items()]


def decode_headers(raw: list[tuple[str, bytes]] | None) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (raw or [])}


def consumer_kwargs(settings: CommonSettings, group: str, request_timeout_ms: int) -> dict[str, Any]:
    """A consumer group member's client: offsets committed by the runner, from the earliest."""
    return {
        **kafka_client_kwargs(settings),
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "request_timeout_ms": request_timeout_ms,
        "max_poll_records": settings.consumer_batch_size,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
    }


def check_kafka_security(settings: CommonSettings) -> None:
    """Raise KafkaSecurityError now if the Kafka settings cannot make a client (start-up check)."""
    kafka_client_kwargs(settings)


async def broker_reachable(settings: CommonSettings, timeout_s: float = 3.0) -> bool:
    try:
        admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings), request_timeout_ms=int(timeout_s * 1000))
    except KafkaSecurityError:
        return False
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except Exception:
        return False
    finally:
        with suppress(Exception):
            await admin.close()


class BrokerUnavailable(ConnectionError):
    """The broker did not answer in time (or refused the connection); says where and how, never a secret."""


Target = CommonSettings | str  # a service's settings (security, timeouts), or a bare plaintext bootstrap (tests)


async def ensure_topics(target: Target, topics: Iterable[str], partitions: int | None = None) -> None:
    """Create `topics` with `partitions` and replication factor 1 (tests); existing ones are left as they are."""
    count = partitions or (target.topic_partitions if isinstance(target, CommonSettings) else 1)
    await apply_topics(target, [TopicSpec(t, count, 1) for t in topics])


async def apply_topics(target: Target, specs: Sequence[TopicSpec]) -> None:
    """Create the missing topics with their partitions, replication factor and configs; bring the
    configs of existing ones up to date where the broker can alter them, and log where it cannot.
    Partitions and replication of an existing topic are never changed here (docs/operations.md).

    Bounded by `kafka_request_timeout_ms`: a TLS client speaking to a plain listener waits for
    a handshake that never comes, and start-up must not wait with it."""
    if isinstance(target, CommonSettings):
        options, timeout_s = kafka_client_kwargs(target), target.kafka_request_timeout_ms / 1000
        where = f"{target.kafka_bootstrap} over {target.kafka_security_protocol}"
    else:
        options, timeout_s, where = {"bootstrap_servers": target}, 30.0, target
    admin = AIOKafkaAdminClient(**options)
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except Exception as exc:
        with suppress(Exception):
            await admin.close()
        raise BrokerUnavailable(
            f"no answer from the broker at {where} within {timeout_s:g} s ({type(exc).__name__})"
        ) from None
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics([_new_topic(s) for s in missing])
        present = [s for s in specs if s.name in existing]
        if present:
            await _warn_fewer_partitions(admin, present)
        for spec in present:
            if spec.configs:
                await _update_configs(admin, spec)
    finally:
        await admin.close()


def _new_topic(spec: TopicSpec) -> NewTopic:
    return NewTopic(spec.name, spec.partitions, spec.replication_factor, topic_configs=dict(spec.configs))


async def _warn_fewer_partitions(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    """More copies of a consumer than partitions sit idle: say so (adding partitions is an operator's step)."""
    try:
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics([s.name for s in specs])}
    except Exception as exc:
        log.warning("topics not described", extra={"error": type(exc).__name__})
        return
    for spec in specs:
        have = described.get(spec.name)
        if have is not None and have < spec.partitions:
            log.warning("topic has fewer partitions than configured", extra={"topic": spec.name, "count": have})


async def _update_configs(admin: AIOKafkaAdminClient, spec: TopicSpec) -> None:
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name)])
        entries = [e for r in responses for res in r.resources for e in res[4]]
        current = {e[0]: e[1] for e in entries}
        changes = config_changes(spec.configs, current)
        if not changes:
            return
        # entries: (name, value, read_only, config_source, is_sensitive, synonyms) from version 1 on
        on_topic = {e[0]: e[1] for e in entries if len(e) >= 6 and e[3] == CONFIG_SOURCE_TOPIC and e[1] is not None}
        wanted = altered_configs(spec.configs, on_topic)
        for response in await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, wanted)]):
            for error_code, *_ in response.resources:
                if error_code:
                    raise RuntimeError(f"AlterConfigs error code {error_code}")
        log.info("topic configs altered", extra={"topic": spec.name, "count": len(changes)})
    except Exception as exc:  # a broker without AlterConfigs (Tansu) keeps the topic as it is
        log.warning(
            "topic configs not applied: the broker refused or cannot alter them",
            extra={"topic": spec.name, "error": type(exc).__name__},
        )
