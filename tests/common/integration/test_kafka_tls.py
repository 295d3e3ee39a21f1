"""Kafka over TLS (issue 15), with the project's own clients against a real broker.

The local broker (Tansu 0.6) serves plain TCP only: its `--cert` option does not make the
listener speak TLS, and its SASL users can only be created over a connection that is already
authenticated, which an in-memory store never has. So the test puts a TLS listener of its own
in front of a private Tansu (a CA, a server and client certificates made here with
`cryptography`), the listener requiring a client certificate (mutual TLS) and passing bytes
through, and Tansu advertising that listener. Clients built from the settings must then create
topics, publish and read back over TLS, and must refuse a broker they cannot trust.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from mailintake_common.dead_letters import read_records
from mailintake_common.devstack import free_port, tansu_binary, wait_for_port
from mailintake_common.kafka import BrokerUnavailable, broker_reachable, ensure_topics, kafka_client_kwargs
from mailintake_common.settings import CommonSettings
from tests.factories.tls import Issued, TestAuthority
from tests.support.stack import Infra, make_service


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(tmp_path_factory.mktemp("kafka-ca"))


@pytest.fixture(scope="module")
def tls_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def tansu_behind_tls(tmp_path_factory: pytest.TempPathFactory, tls_port: int) -> Iterator[int]:
    """A private Tansu on a plain port, telling clients to connect to the TLS port instead."""
    port = free_port()
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    proc = subprocess.Popen(
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{tls_port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, proc=proc)
        yield port
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with suppress(Exception):
            writer.close()


@asynccontextmanager
async def tls_listener(
    port: int, broker_port: int, server: Issued, ca_file: Path
) -> AsyncIterator[asyncio.AbstractServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server.cert, server.key)
    context.load_verify_locations(cafile=ca_file)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no connection

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection("127.0.0.1", broker_port)
        await asyncio.gather(_pipe(client_r, broker_w), _pipe(broker_r, client_w))

    listener = await asyncio.start_server(relay, "127.0.0.1", port, ssl=context)
    try:
        yield listener
    finally:
        listener.close()
        with suppress(Exception):
            await asyncio.wait_for(listener.wait_closed(), 5)


@pytest.fixture
async def tls_broker(
    authority: TestAuthority, tansu_behind_tls: int, tls_port: int
) -> AsyncIterator[asyncio.AbstractServer]:
    server = authority.issue("broker", hosts=("127.0.0.1",))
    async with tls_listener(tls_port, tansu_behind_tls, server, authority.ca_file) as listener:
        yield listener


def tls_settings(port: int, ca: TestAuthority, client: Issued | None, **more: object) -> CommonSettings:
    values: dict[str, object] = {
        "kafka_bootstrap": f"127.0.0.1:{port}",
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": str(ca.ca_file),
        "kafka_request_timeout_ms": 5000,
        **more,
    }
    if client is not None:
        values |= {"kafka_ssl_certfile": str(client.cert), "kafka_ssl_keyfile": str(client.key)}
    return CommonSettings(**values)  # type: ignore[arg-type]


async def test_clients_create_topics_publish_and_read_back_over_mutual_tls(
    tls_broker: asyncio.AbstractServer, tls_port: int, authority: TestAuthority
) -> None:
    settings = tls_settings(tls_port, authority, authority.issue("routing-client", client=True))
    topic = "mail.tls-check.dlq"
    assert await broker_reachable(settings, timeout_s=10)
    await ensure_topics(settings, [topic], 1)
    producer = AIOKafkaProducer(**kafka_client_kwargs(settings), acks="all")
    await producer.start()
    try:
        letter = {"topic": "mail.tls-check", "partition": 0, "offset": 7, "error": "Example", "consumer": "t"}
        letter["failed_at"] = "2026-12-01T00:00:00Z"
        await producer.send_and_wait(topic, json.dumps(letter).encode(), key=b"doc-tls-1")
    finally:
        await producer.stop()
    records = await read_records(settings, [topic], None, 10)
    assert [(r.key, json.loads(r.value)["offset"]) for r in records] == [(b"doc-tls-1", 7)]


async def test_a_client_without_its_certificate_or_trusting_another_ca_gets_nowhere(
    tls_broker: asyncio.AbstractServer, tls_port: int, authority: TestAuthority, tmp_path: Path
) -> None:
    no_client_cert = tls_settings(tls_port, authority, None)
    assert not await broker_reachable(no_client_cert, timeout_s=5)
    stranger = TestAuthority(tmp_path / "stranger", name="Some other CA")
    other_ca = tls_settings(tls_port, stranger, authority.issue("c2", client=True))
    assert not await broker_reachable(other_ca, timeout_s=5)


async def test_the_broker_certificate_must_name_the_host_unless_checking_is_off(
    authority: TestAuthority, tansu_behind_tls: int, tls_port: int
) -> None:
    elsewhere = authority.issue("broker-elsewhere", hosts=("kafka.other-agency.example",))
    client = authority.issue("c3", client=True)
    async with tls_listener(tls_port, tansu_behind_tls, elsewhere, authority.ca_file):
        assert not await broker_reachable(tls_settings(tls_port, authority, client), timeout_s=5)
        unchecked = tls_settings(tls_port, authority, client, kafka_ssl_check_hostname=False)
        assert await broker_reachable(unchecked, timeout_s=10)


async def test_a_tls_client_refuses_a_plain_listener(infra: Infra, authority: TestAuthority) -> None:
    port = int(infra.bootstrap.rsplit(":", 1)[1])
    settings = tls_settings(port, authority, None)
    assert not await broker_reachable(settings, timeout_s=5)
    with pytest.raises(BrokerUnavailable) as refused:  # not a hang: start-up goes on and says why
        await asyncio.wait_for(ensure_topics(settings, ["mail.never-created"], 1), 30)
    assert str(refused.value).startswith(f"no answer from the broker at 127.0.0.1:{port} over SSL within 5 s")


def test_a_service_with_tls_but_no_ca_stops_at_start_up_naming_the_setting(infra: Infra, tmp_path: Path) -> None:
    service = make_service(
        infra,
        "intake",
        tmp_path,
        {
            "MAILINTAKE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "MAILINTAKE_KAFKA_SASL_USERNAME": "intake",
            "MAILINTAKE_KAFKA_SASL_PASSWORD": "a-password-that-must-not-be-logged",
        },
    )
    service.start(wait_ready=False)
    assert service.proc is not None
    try:
        code = service.proc.wait(60)
    finally:
        service.kill()
    assert code != 0
    log = service.log_path.read_text()
    assert "MAILINTAKE_KAFKA_SSL_CAFILE is required when MAILINTAKE_KAFKA_SECURITY_PROTOCOL=SASL_SSL" in log
    assert "a-password-that-must-not-be-logged" not in log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{service.base_url}/healthz", timeout=2)
