"""The real infrastructure tests run against: PostgreSQL, a Kafka-protocol broker, services.

By default everything is a local process the project starts itself (devstack.py): a
throwaway PostgreSQL cluster with fsync off and a Tansu broker. With Docker available and
`MAILINTAKE_TEST_DOCKER=1`, PostgreSQL and Apache Kafka come from testcontainers instead.
Services run as real subprocesses (`python -c "...main()"`), exactly as `make run` runs them,
so tests can kill and restart them.

With `MAILINTAKE_TEST_BLOB_STORE=s3` the session's infrastructure adds a SeaweedFS S3 server
(devstack.py) and every service stores blob content there (`MAILINTAKE_BLOB_STORE=s3`), and
hands every part to its worker processes as a spool file (`MAILINTAKE_PART_SPOOL_BYTES=0`);
`make test` runs the pipeline suite a second time that way.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from mailintake_common.devstack import Postgres, SeaweedS3, Tansu, free_port
from mailintake_common.migrate import upgrade
from mailintake_common.s3 import S3Config, sign
from mailintake_common.settings import CommonSettings

# A fixed test key, as strong as the services demand (32 random bytes or more).
ADMIN_KEY = "test-admin-key-Zq7vN2pL9xR4sT8wY1bC6dF3gH5jK0mQ-aE9uW2iO4pS7dG1hJ5k"
SERVICES = ("intake", "quarantine", "classifier", "routing")
# Test-only object store credentials (the server is a throwaway on a loopback port).
S3_ACCESS_KEY_ID = "mailintake-test"
S3_SECRET_ACCESS_KEY = "test-secret-" + "x" * 28
S3_BUCKET = "mail-intake-test"


def installed(service: str) -> bool:
    try:
        __import__(f"mailintake_{service}.app")
    except ImportError:
        return False
    return True


@dataclass
class Infra:
    """Where the database and broker are, and how to restart them (local processes only)."""

    database_url: str
    bootstrap: str
    postgres: Postgres | None = None
    broker: Tansu | None = None
    # Blob store settings (field name -> value) every service and test-side store uses
    blob_settings: dict[str, str] = field(default_factory=dict)

    def settings(self) -> CommonSettings:
        """Settings a test's own engine and blob store use: this database, this blob store."""
        return CommonSettings.model_validate({"database_url": self.database_url, **self.blob_settings})

    def blob_env(self) -> dict[str, str]:
        return {f"MAILINTAKE_{name.upper()}": value for name, value in self.blob_settings.items()}

    def restart_broker(self) -> None:
        """Stop the broker and start it again on the same port: it comes back empty."""
        assert self.broker is not None, "restarting the broker needs the local Tansu broker"
        self.broker.stop()
        self.broker.start()


@contextmanager
def migrated_postgres(directory: Path, options: tuple[str, ...] = ()) -> Iterator[str]:
    """A migrated PostgreSQL of the test's own (fsync off); yields its URL and stops it after."""
    pg = Postgres(directory, free_port(), fast=True, options=options)
    pg.start()
    try:
        upgrade(pg.url)
        yield pg.url
    finally:
        pg.stop()


def start_local_infra(workdir: Path, pg_options: tuple[str, ...] = ()) -> tuple[Infra, list[object]]:
    pg = Postgres(workdir / "pg", free_port(), fast=True, options=pg_options)
    pg.start()
    broker = Tansu(free_port(), workdir)
    broker.start()
    upgrade(pg.url)
    return Infra(pg.url, broker.bootstrap, pg, broker), [broker, pg]


def start_object_store(workdir: Path) -> tuple[SeaweedS3, dict[str, str]]:
    """A SeaweedFS S3 server with the test bucket, and the blob settings that point at it."""
    server = SeaweedS3(workdir / "s3", S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY)
    server.start()
    config = S3Config(server.endpoint_url, S3_BUCKET, "us-east-1", S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY)
    try:
        _create_bucket(config)
    except BaseException:
        server.stop()
        raise
    settings = {
        "blob_store": "s3",
        "s3_endpoint_url": server.endpoint_url,
        "s3_bucket": S3_BUCKET,
        "s3_access_key_id": S3_ACCESS_KEY_ID,
        "s3_secret_access_key": S3_SECRET_ACCESS_KEY,
    }
    return server, settings


def _create_bucket(config: S3Config, timeout_s: float = 60.0) -> None:
    """Create the bucket, then store one object: the gateway listens (and even answers for the
    bucket) before its volume server takes writes. Sync: fixtures may run inside an event loop."""
    probe = b"ready"
    steps = [(f"/{config.bucket}", b"", (200, 409)), (f"/{config.bucket}/probe", probe, (200,))]  # 409: it exists
    deadline = time.monotonic() + timeout_s
    for path, body, done in steps:
        while True:
            payload = hashlib.sha256(body).hexdigest()
            headers = sign(config, "PUT", path, "", {"content-length": str(len(body))}, payload, datetime.now(UTC))
            with suppress(httpx.HTTPError):
                url = f"{config.endpoint_url}{path}"
                if httpx.put(url, content=body, headers=headers, timeout=10).status_code in done:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the object store did not take a write within {timeout_s}s")
            time.sleep(0.3)


@contextmanager
def infrastructure(workdir: Path) -> Iterator[Infra]:
    if os.environ.get("MAILINTAKE_TEST_DOCKER") == "1":
        containers = _try_containers()
        if containers is not None:
            with containers as infra:
                yield infra
            return
    infra, stoppables = start_local_infra(workdir)
    if os.environ.get("MAILINTAKE_TEST_BLOB_STORE") == "s3":
        server, infra.blob_settings = start_object_store(workdir)
        # This pass also hands every part to the workers as a file, however small, so every
        # corpus file is screened and read from a path too (the first pass: mostly as bytes).
        infra.blob_settings["part_spool_bytes"] = "0"
        stoppables.insert(0, server)
    try:
        yield infra
    finally:
        for thing in stoppables:
            thing.stop()  # type: ignore[attr-defined]


def _try_containers():
    """Apache Kafka (KRaft) and PostgreSQL via testcontainers, or None without a Docker engine."""
    try:
        from docker.errors import DockerException
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        return None
    try:
        pg = PostgresContainer("postgres:15", driver="asyncpg")
        kafka = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft()
    except DockerException:
        return None

    @contextmanager
    def running() -> Iterator[Infra]:
        with pg, kafka:
            url = pg.get_connection_url()
            upgrade(url)
            yield Infra(url, kafka.get_bootstrap_server())

    return running()


@dataclass
class Service:
    """One service process; `base_url` is where it answers."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> None:
        code = f"from mailintake_{self.name}.app import main; main()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env=self.env,
            stdout=open(self.log_path, "ab"),  # noqa: SIM115 - lives as long as the process
            stderr=subprocess.STDOUT,
        )
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout_s: float | None = None) -> None:
        # The classifier trains its at-risk model at start: minutes on a loaded machine.
        timeout_s = timeout_s or float(os.environ.get("MAILINTAKE_TEST_READY_TIMEOUT_S", "180"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout_s}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def service_env(infra: Infra, name: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MAILINTAKE_DATABASE_URL": infra.database_url,
            "MAILINTAKE_KAFKA_BOOTSTRAP": infra.bootstrap,
            "MAILINTAKE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
            f"MAILINTAKE_{name.upper()}_PORT": str(port),
            # Short group timeouts: a join takes about half the session timeout on Tansu.
            "MAILINTAKE_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "MAILINTAKE_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            "MAILINTAKE_CONSUMER_BACKOFF_INITIAL_S": "0.05",
            "MAILINTAKE_LOG_LEVEL": "INFO",
            "OMP_THREAD_LIMIT": "1",
        }
    )
    env.update(infra.blob_env())
    env.update(extra or {})
    return env


def make_service(infra: Infra, name: str, log_dir: Path, extra_env: dict[str, str] | None = None) -> Service:
    port = free_port()
    # Large parts' temporary files go beside the logs, where a test can see that none are left.
    env = {"MAILINTAKE_PART_SPOOL_DIR": str(log_dir / "part-spool"), **(extra_env or {})}
    return Service(name, port, service_env(infra, name, port, env), log_dir / f"{name}-{port}.log")
