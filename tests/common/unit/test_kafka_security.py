"""Kafka security (issue 15): one builder makes every client's options from the settings, and a
bad combination is refused with an error naming the setting, before anything connects."""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from mailintake_common.kafka import KafkaSecurityError, consumer_kwargs, kafka_client_kwargs
from mailintake_common.settings import CommonSettings
from tests.factories.tls import TestAuthority

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "correct-horse-battery-staple-77"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(tmp_path_factory.mktemp("ca"))


def settings(**values: object) -> CommonSettings:
    return CommonSettings(kafka_bootstrap="broker-1.agency.internal:9093", **values)  # type: ignore[arg-type]


def refusal(**values: object) -> str:
    with pytest.raises(KafkaSecurityError) as refused:
        kafka_client_kwargs(settings(**values))
    return refused.value.detail


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert kafka_client_kwargs(settings()) == {
        "bootstrap_servers": "broker-1.agency.internal:9093",
        "security_protocol": "PLAINTEXT",
    }


def test_tls_verifies_the_broker_against_the_configured_ca_and_its_name(authority: TestAuthority) -> None:
    kwargs = kafka_client_kwargs(settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(authority.ca_file)))
    context = kwargs["ssl_context"]
    assert kwargs["security_protocol"] == "SSL" and "sasl_mechanism" not in kwargs
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "Agency test CA"),),)]
    relaxed = settings(
        kafka_security_protocol="SSL", kafka_ssl_cafile=str(authority.ca_file), kafka_ssl_check_hostname=False
    )
    assert not kafka_client_kwargs(relaxed)["ssl_context"].check_hostname


def test_tls_without_a_ca_is_refused_unless_the_system_store_is_allowed() -> None:
    detail = refusal(kafka_security_protocol="SASL_SSL", kafka_sasl_username="relay", kafka_sasl_password=PASSWORD)
    assert "MAILINTAKE_KAFKA_SSL_CAFILE is required" in detail and "SASL_SSL" in detail
    system = kafka_client_kwargs(settings(kafka_security_protocol="SSL", kafka_ssl_system_ca=True))
    assert system["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_sasl_over_tls_passes_the_mechanism_and_credentials(authority: TestAuthority) -> None:
    kwargs = kafka_client_kwargs(
        settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-256",
            kafka_sasl_username="mailintake-relay",
            kafka_sasl_password=PASSWORD,
            kafka_ssl_cafile=str(authority.ca_file),
        )
    )
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("mailintake-relay", PASSWORD)
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)


def test_scram_is_the_default_mechanism_and_plain_never_travels_in_clear(authority: TestAuthority) -> None:
    creds = {"kafka_sasl_username": "relay", "kafka_sasl_password": PASSWORD}
    kwargs = kafka_client_kwargs(settings(kafka_security_protocol="SASL_PLAINTEXT", **creds))
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and "ssl_context" not in kwargs
    detail = refusal(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN", **creds)
    assert "MAILINTAKE_KAFKA_SASL_MECHANISM=PLAIN" in detail
    over_tls = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="PLAIN",
        kafka_ssl_cafile=str(authority.ca_file),
        **creds,
    )
    assert kafka_client_kwargs(over_tls)["sasl_mechanism"] == "PLAIN"


@pytest.mark.parametrize(
    ("missing", "given"),
    [
        ("MAILINTAKE_KAFKA_SASL_USERNAME", {"kafka_sasl_password": PASSWORD}),
        ("MAILINTAKE_KAFKA_SASL_PASSWORD", {"kafka_sasl_username": "relay"}),
        ("MAILINTAKE_KAFKA_SASL_PASSWORD", {"kafka_sasl_username": "relay", "kafka_sasl_password": ""}),
    ],
)
def test_sasl_without_credentials_is_refused_naming_what_is_missing(missing: str, given: dict[str, str]) -> None:
    detail = refusal(kafka_security_protocol="SASL_PLAINTEXT", **given)
    assert detail.startswith(f"{missing} is required") and PASSWORD not in detail


def test_security_settings_for_a_protocol_that_ignores_them_are_refused(authority: TestAuthority) -> None:
    # Certificates set up and the protocol forgotten must not quietly mean plain traffic.
    detail = refusal(kafka_ssl_cafile=str(authority.ca_file))
    assert "MAILINTAKE_KAFKA_SSL_CAFILE is set but MAILINTAKE_KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in detail
    detail = refusal(
        kafka_security_protocol="SSL", kafka_ssl_cafile=str(authority.ca_file), kafka_sasl_password=PASSWORD
    )
    assert "MAILINTAKE_KAFKA_SASL_PASSWORD is set" in detail and PASSWORD not in detail


def test_unreadable_or_wrong_files_are_refused_naming_the_setting(authority: TestAuthority, tmp_path: Path) -> None:
    tls = {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": str(authority.ca_file)}
    missing = refusal(kafka_security_protocol="SSL", kafka_ssl_cafile=str(tmp_path / "nowhere.pem"))
    assert missing.startswith("MAILINTAKE_KAFKA_SSL_CAFILE: cannot read") and "FileNotFoundError" in missing
    junk = tmp_path / "junk.pem"
    junk.write_text("this is a note, not a certificate\n")
    assert refusal(kafka_security_protocol="SSL", kafka_ssl_cafile=str(junk)).startswith("MAILINTAKE_KAFKA_SSL_CAFILE")
    client = authority.issue("relay-client", client=True)
    if os.geteuid() != 0:  # root reads any file whatever its mode
        locked = tmp_path / "locked.key"
        locked.write_bytes(client.key.read_bytes())
        locked.chmod(0)
        detail = refusal(**tls, kafka_ssl_certfile=str(client.cert), kafka_ssl_keyfile=str(locked))
        assert detail.startswith("MAILINTAKE_KAFKA_SSL_KEYFILE: cannot read") and "PermissionError" in detail
    other = authority.issue("someone-else", client=True)
    mismatched = refusal(**tls, kafka_ssl_certfile=str(client.cert), kafka_ssl_keyfile=str(other.key))
    assert "MAILINTAKE_KAFKA_SSL_CERTFILE / MAILINTAKE_KAFKA_SSL_KEYFILE" in mismatched
    assert refusal(**tls, kafka_ssl_keyfile=str(client.key)).startswith("MAILINTAKE_KAFKA_SSL_KEYFILE is set without")


def test_mutual_tls_loads_the_client_certificate_and_its_encrypted_key(authority: TestAuthority) -> None:
    client = authority.issue("dlq-reader", client=True, key_password=PASSWORD.encode())
    tls = {
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": str(authority.ca_file),
        "kafka_ssl_certfile": str(client.cert),
        "kafka_ssl_keyfile": str(client.key),
    }
    assert isinstance(
        kafka_client_kwargs(settings(**tls, kafka_ssl_key_password=PASSWORD))["ssl_context"], ssl.SSLContext
    )
    wrong = refusal(**tls, kafka_ssl_key_password="not-the-password-at-all")
    assert "MAILINTAKE_KAFKA_SSL_KEY_PASSWORD" in wrong and "not-the-password-at-all" not in wrong


def test_unknown_protocols_and_mechanisms_are_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="kafka_security_protocol"):
        settings(kafka_security_protocol="TLS")
    with pytest.raises(ValidationError, match="kafka_sasl_mechanism"):
        settings(kafka_sasl_mechanism="GSSAPI")


def test_passwords_are_secret_settings_never_shown() -> None:
    configured = settings(kafka_sasl_password=PASSWORD, kafka_ssl_key_password=PASSWORD)
    assert PASSWORD not in repr(configured) and PASSWORD not in str(configured.model_dump())


def test_every_kafka_client_in_the_services_takes_its_options_from_the_one_builder() -> None:
    """No client is built with a bare bootstrap address: each passes `**kafka_client_kwargs(...)`,
    or `**consumer_kwargs(...)`, which starts from it."""
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    clients = re.compile(r"AIOKafka(Consumer|Producer|AdminClient)\(")
    built = [p for p in sources if clients.search(p.read_text())]
    assert {p.name for p in built} >= {"consumer.py", "outbox.py", "kafka.py", "dead_letters.py"}
    for path in built:
        text = path.read_text()
        assert "bootstrap_servers=" not in text.replace('"bootstrap_servers": settings', ""), path
        builders = text.count("kafka_client_kwargs(") + text.count("**consumer_kwargs(")
        assert builders >= len(clients.findall(text)), path
    assert consumer_kwargs(settings(), "g", 1000).items() >= kafka_client_kwargs(settings()).items()
