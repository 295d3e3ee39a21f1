"""`make run` supervises (issue 16): each service, SIGKILLed in turn under the real dev runner,
is restarted with a line that says so, answers /healthz again, and every document posted
before and during the kills ends routed. Ctrl-C then stops everything, leaving nothing running.

The dev runner is started exactly as `make run` starts it (`python -m mailintake_common.devrun`)
with its own data directory and free ports. Bounded: a few documents a second, one kill at a
time, and fixed deadlines for each wait.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.devstack import free_port
from mailintake_common.tables import documents
from tests.factories.documents import email_bytes
from tests.support.stack import ADMIN_KEY, SERVICES

pytestmark = pytest.mark.slow

LETTERS = (
    ("New address", "Hi, I moved last month. My new address is 4 Wattle Street, Bendigo. Thanks, Sam"),
    ("Payment this fortnight", "The payment due Friday will be a couple of days late, my pay was delayed."),
    ("Question about my case", "Could somebody ring me back about the letter I got on Tuesday? Cheers."),
)


@dataclass
class DevRun:
    proc: subprocess.Popen[bytes]
    out: Path
    ports: dict[str, int]
    database_url: str
    others: list[int] = field(default_factory=list)  # ports of PostgreSQL and the broker

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def service_pid(self, name: str) -> int:
        for child in psutil.Process(self.proc.pid).children():
            if any(f"mailintake_{name}.app" in arg for arg in child.cmdline()):
                return child.pid
        raise LookupError(f"{name} is not running under the dev runner")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


def _wait(what: str, check, timeout_s: float, run: DevRun) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert run.proc.poll() is None, f"the dev runner exited while waiting for {what}:\n{run.output()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} not seen in {timeout_s}s:\n{run.output()[-3000:]}"
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def devrun(tmp_path: Path) -> Iterator[DevRun]:
    ports = {name: free_port() for name in SERVICES}
    db_port, broker_port = free_port(), free_port()
    database_url = f"postgresql+asyncpg://mailintake@127.0.0.1:{db_port}/mailintake"
    env = dict(
        os.environ,
        MAILINTAKE_DATA_DIR=str(tmp_path / "data"),
        MAILINTAKE_DATABASE_URL=database_url,
        MAILINTAKE_KAFKA_BOOTSTRAP=f"127.0.0.1:{broker_port}",
        MAILINTAKE_BOOTSTRAP_ADMIN_KEY=ADMIN_KEY,
        MAILINTAKE_SUPERVISE_BACKOFF_INITIAL_S="0.5",
        MAILINTAKE_KAFKA_SESSION_TIMEOUT_MS="6000",
        MAILINTAKE_KAFKA_HEARTBEAT_INTERVAL_MS="1000",
        MAILINTAKE_CONSUMER_BACKOFF_INITIAL_S="0.05",
        MAILINTAKE_RECONCILE_STUCK_AFTER_S="8",
        MAILINTAKE_RECONCILE_INTERVAL_S="1",
        MAILINTAKE_OCR_WORKERS="1",
        MAILINTAKE_SCREENING_WORKERS="1",
        **{f"MAILINTAKE_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    )
    out = tmp_path / "devrun.out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailintake_common.devrun"],
        env=env,
        stdout=open(out, "wb"),  # noqa: SIM115 - lives as long as the runner
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: a failed test can stop it without touching ours
    )
    run = DevRun(proc, out, ports, database_url, [db_port, broker_port])
    try:
        yield run
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def post_letters(run: DevRun, accepted: list[str], stop: asyncio.Event, interval_s: float = 0.3) -> None:
    count = 0
    async with httpx.AsyncClient(base_url=run.url("intake"), headers={"X-API-Key": ADMIN_KEY}, timeout=10) as http:
        while not stop.is_set():
            subject, body = LETTERS[count % len(LETTERS)]
            count += 1
            try:
                if count % 3 == 0:
                    response = await http.post(
                        "/v1/webforms",
                        json={
                            "form_type": "contact_us",
                            "submitted_at": "2026-11-30T09:00:00+11:00",
                            "fields": {"message": f"{body} (ref {uuid.uuid4().hex[:6]})"},
                        },
                    )
                else:
                    response = await http.post(
                        "/v1/emails?mailbox=edc",
                        content=email_bytes(subject=subject, body=f"{body}\n\n{uuid.uuid4().hex[:6]}"),
                        headers={"Content-Type": "message/rfc822"},
                    )
                if response.status_code == 202:
                    accepted.append(response.json()["document_id"])
            except httpx.HTTPError:
                pass  # intake itself is being killed: the sender tries the next one
            await asyncio.sleep(interval_s)


async def _statuses(database_url: str, ids: list[str]) -> dict[str, str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(documents.c.document_id, documents.c.status).where(documents.c.document_id.in_(ids))
            )
            return {r.document_id: r.status for r in rows}
    finally:
        await engine.dispose()


def kill_and_see_it_return(run: DevRun, name: str) -> None:
    old = run.service_pid(name)
    os.kill(old, signal.SIGKILL)
    line = f"{name} exited with signal SIGKILL at "
    _wait(f"the {name} exit line", lambda: line in run.output(), 20, run)
    _wait(f"{name} restarted", lambda: f"{name} restarted (pid " in run.output(), 20, run)
    assert run.service_pid(name) != old
    _wait(f"{name} /healthz", lambda: _healthy(run.url(name)), 90, run)


async def test_make_run_restarts_each_killed_service_and_loses_nothing(devrun: DevRun) -> None:
    await asyncio.to_thread(_wait, "Running.", lambda: "Running." in devrun.output(), 240, devrun)
    accepted: list[str] = []
    stop = asyncio.Event()
    sender = asyncio.create_task(post_letters(devrun, accepted, stop))
    await asyncio.sleep(2)
    before_kills = len(accepted)
    try:
        for name in ("quarantine", "classifier", "routing", "intake"):
            await asyncio.to_thread(kill_and_see_it_return, devrun, name)
            await asyncio.sleep(1)
    finally:
        stop.set()
        await sender
    assert before_kills > 0 and len(accepted) > before_kills + 10, (before_kills, len(accepted))

    deadline = time.monotonic() + 90
    while True:
        statuses = await _statuses(devrun.database_url, accepted)
        waiting = {d: s for d, s in statuses.items() if s != "routed"}
        if len(statuses) == len(accepted) and not waiting:
            break
        assert time.monotonic() < deadline, f"{len(waiting)} of {len(accepted)} not routed: {waiting}"
        await asyncio.sleep(1)

    # Ctrl-C: services, the broker and PostgreSQL all stop; nothing is left behind.
    everything = psutil.Process(devrun.proc.pid).children(recursive=True)
    assert len(everything) >= len(SERVICES) + 2
    devrun.proc.send_signal(signal.SIGINT)
    assert devrun.proc.wait(60) == 0
    assert devrun.output().rstrip().endswith("Stopped.")
    assert "did not stop" not in devrun.output()  # each service stopped itself, none was killed
    _, alive = psutil.wait_procs(everything, timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    for port in [*devrun.ports.values(), *devrun.others]:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
