"""`mailintake keys list|revoke` against a running stack, `--json` before or after the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import httpx

from tests.support.stack import ADMIN_KEY, Service


def mailintake(intake: Service, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MAILINTAKE_INTAKE_URL=intake.base_url, MAILINTAKE_API_KEY=ADMIN_KEY, COLUMNS="200")
    command = [sys.executable, "-c", "from mailintake_cli.main import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_keys_list_and_revoke(intake: Service) -> None:
    name = f"night scanner {uuid.uuid4().hex[:6]}"
    created = mailintake(intake, "--json", "keys", "create", name, "--scope", "intake:write")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]

    for args in (("--json", "keys", "list"), ("keys", "list", "--json")):
        listed = mailintake(intake, *args)
        assert listed.returncode == 0, listed.stderr
        mine = [k for k in json.loads(listed.stdout) if k["name"] == name]
        assert len(mine) == 1 and mine[0]["scopes"] == ["intake:write"] and "created_at" in mine[0]
        assert key not in listed.stdout
    human = mailintake(intake, "keys", "list")
    assert name in human.stdout and "intake:write" in human.stdout and key not in human.stdout

    revoked = mailintake(intake, "keys", "revoke", name, "--json")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout) == {"name": name, "revoked": 1}
    refused = httpx.post(f"{intake.base_url}/v1/webforms", json={}, headers={"X-API-Key": key})
    assert refused.status_code == 401
    again = mailintake(intake, "--json", "keys", "revoke", name)
    assert again.returncode == 1 and "404" in again.stderr
    history = mailintake(intake, "keys", "list", "--revoked", "--json")
    assert next(k for k in json.loads(history.stdout) if k["name"] == name)["revoked_by"] == "bootstrap admin"
