"""`mailintake-service NAME`, the image's entry point: it starts a real service, migrates, and its
healthcheck tells a serving container from a dead one (issue 17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from mailintake_common.devstack import free_port
from mailintake_common.service import container_command, healthcheck
from mailintake_common.settings import CommonSettings
from tests.support.stack import Infra, Service, service_env

ENTRY = [sys.executable, "-m", "mailintake_common.service"]


class EntryPointService(Service):
    """A service started the way the image starts it."""

    def start(self, wait_ready: bool = True) -> None:
        self.proc = subprocess.Popen(
            [*ENTRY, self.name],
            env=self.env,
            stdout=open(self.log_path, "ab"),  # noqa: SIM115 - lives as long as the process
            stderr=subprocess.STDOUT,
        )
        if wait_ready:
            self.wait_ready()


def test_the_entry_point_serves_intake_and_its_healthcheck_says_so(infra: Infra, tmp_path: Path) -> None:
    port = free_port()
    service = EntryPointService("intake", port, service_env(infra, "intake", port), tmp_path / "intake.log")
    service.start()
    try:
        assert httpx.get(f"{service.base_url}/healthz").json()["service"] == "intake"
        assert healthcheck("intake", CommonSettings(intake_port=port)) == 0
    finally:
        service.stop()
    assert healthcheck("intake", CommonSettings(intake_port=port), timeout_s=1) == 1


def test_the_healthcheck_reads_which_service_the_container_runs(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/opt/venv/bin/python\0/opt/venv/bin/mailintake-service\0classifier\0")
    assert container_command(cmdline) == "classifier"
    cmdline.write_bytes(b"python\0-m\0mailintake_common.service\0migrate\0")
    assert container_command(cmdline) == "migrate"
    assert healthcheck("migrate", CommonSettings()) == 0
    cmdline.write_bytes(b"/bin/sh\0")
    assert container_command(cmdline) is None
    assert healthcheck(None, CommonSettings()) == 1
    assert container_command(tmp_path / "absent") is None


def test_migrate_applies_migrations_and_a_wrong_name_is_refused(infra: Infra) -> None:
    migrated = subprocess.run(
        [*ENTRY, "migrate"], env={**service_env(infra, "intake", 0)}, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "migrations applied" in migrated.stdout
    refused = subprocess.run([*ENTRY, "web"], capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2
    assert "usage: mailintake-service" in refused.stderr
