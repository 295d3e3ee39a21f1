"""Fixtures for the whole suite: real PostgreSQL, a real broker and real service processes.

- `infra`: PostgreSQL (migrated) and a Kafka-protocol broker for the session.
- `intake`: the intake service process (started once per session).
- `stack`: every installed service, started once per session, for end-to-end tests.
- `fresh_infra`: a private PostgreSQL + broker for tests that stop or restart them.
- `object_store`: blob settings pointing at a SeaweedFS S3 server (the session's own when
  `MAILINTAKE_TEST_BLOB_STORE=s3`, else one started for the tests that ask for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import (
    SERVICES,
    Infra,
    Service,
    infrastructure,
    installed,
    make_service,
    start_local_infra,
    start_object_store,
)
from tests.support.statements import counting_postgres


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def infra(workdir: Path) -> Iterator[Infra]:
    with infrastructure(workdir) as running:
        yield running


@pytest.fixture(scope="session")
def object_store(infra: Infra, workdir: Path) -> Iterator[dict[str, str]]:
    """Blob settings (field name -> value) for an S3 store on a real SeaweedFS server."""
    if infra.blob_settings.get("blob_store") == "s3":
        yield infra.blob_settings
        return
    server, settings = start_object_store(workdir / "object-store")
    try:
        yield settings
    finally:
        server.stop()


@pytest.fixture(scope="module")
def counting_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated PostgreSQL of the module's own that counts statements (pg_stat_statements,
    tests/support/statements.py), for the round-trip and planning tests; its URL."""
    with counting_postgres(tmp_path_factory.mktemp("counting") / "pg") as url:
        yield url


@pytest.fixture
def fresh_infra(tmp_path: Path) -> Iterator[Infra]:
    """A PostgreSQL and broker of the test's own, which it may stop, restart or break."""
    own, stoppables = start_local_infra(tmp_path)
    try:
        yield own
    finally:
        for thing in stoppables:
            thing.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def stack(infra: Infra, workdir: Path) -> Iterator[dict[str, Service]]:
    """Every installed service running against `infra`, keyed by name."""
    services = {name: make_service(infra, name, workdir) for name in SERVICES if installed(name)}
    for service in services.values():
        service.start(wait_ready=False)
    try:
        for service in services.values():
            service.wait_ready()
        yield services
    finally:
        for service in services.values():
            service.stop()


@pytest.fixture(scope="session")
def intake(stack: dict[str, Service]) -> Service:
    return stack["intake"]
