"""`mailintake-service NAME`: the image's one entry point (deploy/Dockerfile, the Helm chart, Compose).

NAME is a service (intake, quarantine, classifier, routing: its `app.main()`, as `make run`
starts it), `migrate` (apply database migrations, then exit), or `healthcheck` (the image's
HEALTHCHECK: asks `/healthz` of the service this container runs, read from PID 1's command
line; a `migrate` container is healthy while it runs).
"""

from __future__ import annotations

import importlib
import sys
import urllib.request
from pathlib import Path

from mailintake_common.settings import CommonSettings

SERVICES = ("intake", "quarantine", "classifier", "routing")
USAGE = f"usage: mailintake-service {{{','.join((*SERVICES, 'migrate', 'healthcheck'))}}}"


def container_command(cmdline: Path = Path("/proc/1/cmdline")) -> str | None:
    """The service PID 1 runs (`mailintake-service NAME` or `python -m mailintake_common.service NAME`)."""
    try:
        args = [a for a in cmdline.read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return None
    for arg in reversed(args):
        if arg in (*SERVICES, "migrate"):
            return arg
    return None


def healthcheck(name: str | None, settings: CommonSettings, timeout_s: float = 4.0) -> int:
    """0 when the service answers /healthz on this container's loopback, else 1."""
    if name == "migrate":
        return 0
    if name not in SERVICES:
        print("healthcheck: no mail-intake service runs in this container", file=sys.stderr)
        return 1
    port = getattr(settings, f"{name}_port")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout_s) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {name} on port {port}: {type(exc).__name__}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in (*SERVICES, "migrate", "healthcheck"):
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    name = args[0]
    if name == "healthcheck":
        sys.exit(healthcheck(container_command(), CommonSettings()))
    if name == "migrate":
        from mailintake_common.migrate import upgrade

        upgrade(CommonSettings().database_url)
        print("migrations applied", flush=True)
        return
    importlib.import_module(f"mailintake_{name}.app").main()


if __name__ == "__main__":
    main()
