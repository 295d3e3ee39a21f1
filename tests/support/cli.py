"""The `mailintake` command run as an operator runs it: a process of its own, the services'
URLs and the key in its environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.support.stack import ADMIN_KEY, Service


def mailintake(stack: dict[str, Service], *args: str, key: str = ADMIN_KEY) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MAILINTAKE_API_KEY=key, COLUMNS="200")
    for name, service in stack.items():
        env[f"MAILINTAKE_{name.upper()}_URL"] = service.base_url
    command = [sys.executable, "-c", "from mailintake_cli.main import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
