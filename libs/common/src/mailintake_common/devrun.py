"""`make run`: PostgreSQL, the broker and every service, in the foreground until Ctrl-C.

PostgreSQL keeps its data in `.data/pg` (ignored by git), so a second `make run` still has
the documents; the broker keeps nothing (Tansu in memory), which the outbox and reconciler
are built for. Ports and addresses come from the usual `MAILINTAKE_` settings.

It supervises: a service that exits is started again after a backoff (supervision.py) and a
line says which service exited, how, when, and when it restarts. On Ctrl-C or SIGTERM
everything is stopped, services first, nothing left running.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from mailintake_common.auth import check_key_strength, key_strength_problem
from mailintake_common.devstack import Postgres, Tansu, wait_for_port
from mailintake_common.migrate import upgrade
from mailintake_common.settings import CommonSettings
from mailintake_common.supervision import Backoff, RestartPolicy, exit_line

SERVICES = ("intake", "quarantine", "classifier", "routing")


class Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def admin_key(data: Path, settings: CommonSettings) -> str:
    """The bootstrap admin key: from the environment, else one generated once and kept in .data.

    A kept key weaker than 32 random bytes (older runs made 24) is replaced, and the run says so.
    """
    if settings.bootstrap_admin_key is not None:
        key = settings.bootstrap_admin_key.get_secret_value()
        check_key_strength(key, "MAILINTAKE_BOOTSTRAP_ADMIN_KEY")
        return key
    path = data / "admin-key"
    if path.exists() and key_strength_problem(path.read_text().strip()) is not None:
        print(f"{path} held a key weaker than 32 random bytes; a new one replaces it", flush=True)
        path.unlink()
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


# A child inherits the signals its parent blocks (`Supervisor.start` blocks Ctrl-C and SIGTERM
# while it starts one): unblocked first, or `terminate()` would not reach the service and every
# stop would wait for the kill after STOP_WAIT_S.
UNBLOCK_SIGNALS = "import signal; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM}); "
STOP_WAIT_S = 20.0


def start_service(name: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    code = f"{UNBLOCK_SIGNALS}from mailintake_{name}.app import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=open(logs / f"{name}.log", "ab"),
        stderr=subprocess.STDOUT,
    )


class Supervisor:
    """Keeps the services running: restarts one that exited, after its backoff."""

    def __init__(self, settings: CommonSettings, env: dict[str, str], logs: Path) -> None:
        self.policy = RestartPolicy(
            settings.supervise_backoff_initial_s, settings.supervise_backoff_max_s, settings.supervise_stable_after_s
        )
        self.env = env
        self.logs = logs
        self.services: dict[str, subprocess.Popen[bytes]] = {}
        self.started_at: dict[str, float] = {}
        self.backoff: dict[str, Backoff] = {}
        self.due: dict[str, float] = {}  # service -> when it is started again

    def start(self, name: str) -> subprocess.Popen[bytes]:
        # Ctrl-C waits until the process is recorded, so the stop that follows reaches it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            proc = self.services[name] = start_service(name, self.env, self.logs)
            self.started_at[name] = time.monotonic()
            self.backoff.setdefault(name, Backoff())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        return proc

    def tend(self) -> None:
        """One round: note services that exited, start those whose backoff is over."""
        now = time.monotonic()
        for name, proc in self.services.items():
            if name in self.due or proc.poll() is None:
                continue
            delay = self.backoff[name].after_exit(self.policy, now - self.started_at[name])
            self.due[name] = now + delay
            line = exit_line(name, proc.returncode, datetime.now(UTC), delay, self.backoff[name].exits_in_a_row)
            print(f"{line}; see {self.logs / (name + '.log')}", flush=True)
        for name, at in list(self.due.items()):
            if now >= at:
                proc = self.start(name)
                del self.due[name]
                print(f"{name} restarted (pid {proc.pid})", flush=True)

    def stop(self) -> None:
        for proc in self.services.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.services.items():
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within {STOP_WAIT_S:.0f} s: killed", flush=True)
                proc.kill()
                proc.wait()


def installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"mailintake_{name}.app") is not None


def main() -> None:
    settings = CommonSettings()
    root = Path(os.environ.get("MAILINTAKE_DATA_DIR", ".data")).resolve()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    db_port = urlparse(settings.database_url.replace("+asyncpg", "")).port or 5432
    broker_port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    pg = Postgres(root / "pg", db_port)
    broker = Tansu(broker_port, logs)
    supervisor: Supervisor | None = None
    try:
        print(f"PostgreSQL  127.0.0.1:{db_port}  (data in {root / 'pg'})", flush=True)
        pg.start()
        print(f"Broker      {settings.kafka_bootstrap}  (Tansu, in memory)", flush=True)
        broker.start()
        upgrade(settings.database_url)
        print("Migrations  applied", flush=True)
        env = dict(os.environ, MAILINTAKE_BOOTSTRAP_ADMIN_KEY=admin_key(root, settings), OMP_THREAD_LIMIT="1")
        supervisor = Supervisor(settings, env, logs)
        for name in SERVICES:
            if installed(name):
                supervisor.start(name)
        for name, proc in supervisor.services.items():
            port = getattr(settings, f"{name}_port")
            wait_for_port(port, timeout_s=180, proc=proc)  # the classifier trains a model first
            print(
                f"{name:<11} http://{settings.host}:{port}  (/readyz, /openapi.json; log {logs / (name + '.log')})",
                flush=True,
            )
        print(f"Admin key   in {root / 'admin-key'} (or MAILINTAKE_BOOTSTRAP_ADMIN_KEY)", flush=True)
        print("Running. A service that exits is restarted. Ctrl-C stops everything.", flush=True)
        while True:
            supervisor.tend()
            time.sleep(0.2)
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nStopping...", flush=True)
        if supervisor is not None:
            supervisor.stop()
        broker.stop()
        pg.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
