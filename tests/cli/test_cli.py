"""The `mailintake` command against a running stack (as an operator would run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.factories.documents import email_bytes, page_image, webform
from tests.support.stack import ADMIN_KEY, Infra, Service


def run_cli(
    intake: Service, infra: Infra, *args: str, key: str | None = ADMIN_KEY, routing: Service | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MAILINTAKE_INTAKE_URL=intake.base_url, MAILINTAKE_KAFKA_BOOTSTRAP=infra.bootstrap)
    env["MAILINTAKE_ROUTING_URL"] = routing.base_url if routing else "http://127.0.0.1:9"
    env.pop("MAILINTAKE_API_KEY", None)
    if key:
        env["MAILINTAKE_API_KEY"] = key
    command = [sys.executable, "-c", "from mailintake_cli.main import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a.eml").write_bytes(email_bytes())
    (tmp_path / "b.eml").write_bytes(email_bytes(subject="Second"))
    (tmp_path / "page.png").write_bytes(page_image())
    (tmp_path / "form.json").write_text(json.dumps(webform()))
    (tmp_path / "notes.txt").write_text("not a scan")
    return {p.name: p for p in tmp_path.iterdir()}


def test_submit_many_emails_then_status_shows_the_timeline(
    intake: Service, infra: Infra, files: dict[str, Path]
) -> None:
    done = run_cli(intake, infra, "--json", "submit", "email", str(files["a.eml"]), str(files["b.eml"]))
    assert done.returncode == 0, done.stderr
    outcomes = json.loads(done.stdout)
    assert [o["status_code"] for o in outcomes] == [202, 202]
    shown = run_cli(intake, infra, "--json", "status", outcomes[0]["document_id"])
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["timeline"][0]["stage"] == "intake"
    human = run_cli(intake, infra, "status", outcomes[0]["document_id"])
    assert "intake" in human.stdout and outcomes[0]["document_id"] in human.stdout


def test_submit_scan_and_webform(intake: Service, infra: Infra, files: dict[str, Path]) -> None:
    scan = run_cli(intake, infra, "--json", "submit", "scan", str(files["page.png"]))
    form = run_cli(intake, infra, "--json", "submit", "webform", str(files["form.json"]))
    assert json.loads(scan.stdout)[0]["ok"] and json.loads(form.stdout)[0]["ok"]


def test_a_refused_file_is_reported_and_exits_1(intake: Service, infra: Infra, files: dict[str, Path]) -> None:
    done = run_cli(intake, infra, "--json", "submit", "scan", str(files["page.png"]), str(files["notes.txt"]))
    assert done.returncode == 1
    outcomes = json.loads(done.stdout)
    assert outcomes[0]["ok"] and not outcomes[1]["ok"]
    assert "unsupported_file_type" in outcomes[1]["error"]


def test_unknown_document_and_bad_key_fail_clearly(intake: Service, infra: Infra) -> None:
    missing = run_cli(intake, infra, "status", "0" * 32)
    assert missing.returncode == 1 and "404 not_found" in missing.stderr
    refused = run_cli(intake, infra, "status", "0" * 32, key="wrong")
    assert refused.returncode == 1 and "401" in refused.stderr


def test_unreachable_service_exits_3(infra: Infra, files: dict[str, Path]) -> None:
    nowhere = Service("intake", 9, {}, Path("/dev/null"))
    done = run_cli(nowhere, infra, "submit", "email", str(files["a.eml"]))
    assert done.returncode == 3


def test_keys_create_makes_a_working_key(intake: Service, infra: Infra, files: dict[str, Path]) -> None:
    created = run_cli(intake, infra, "--json", "keys", "create", "scanner 9", "--scope", "intake:write")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    done = run_cli(intake, infra, "submit", "email", str(files["a.eml"]), key=key)
    assert done.returncode == 0, done.stdout + done.stderr
    bad_scope = run_cli(intake, infra, "keys", "create", "x", "--scope", "root")
    assert bad_scope.returncode == 1 and "invalid_scope" in bad_scope.stderr


def test_tail_asks_the_routing_service_not_the_broker(infra: Infra, intake: Service) -> None:
    """With routing unreachable, `tail` says so (exit 3) even though the broker is right there."""
    done = run_cli(intake, infra, "tail", "court", "--follow", "--timeout", "5")
    assert done.returncode == 3 and "cannot reach http://127.0.0.1:9" in done.stderr


def test_the_command_has_no_broker_client() -> None:
    """Issue 15: the command speaks only to the services' authenticated HTTP API, so it neither
    imports a Kafka client nor installs one (its package once still required aiokafka)."""
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "libs/cli/pyproject.toml").read_text())
    assert not [d for d in project["project"]["dependencies"] if d.lower().startswith("aiokafka")]
    probe = "import sys, mailintake_cli.main; print(sorted(m for m in sys.modules if m.startswith('aiokafka')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_demo_generates_and_posts_a_varied_sample(stack: dict[str, Service], infra: Infra, tmp_path: Path) -> None:
    done = run_cli(stack["intake"], infra, "demo", "--dir", str(tmp_path / "demo"), routing=stack.get("routing"))
    assert done.returncode == 0, done.stderr
    posted = [line for line in done.stdout.splitlines() if line.split()[:1] in (["email"], ["scan"], ["webform"])]
    assert len(posted) >= 12
    assert all("accepted" in line for line in posted), posted
    assert {p.name for p in (tmp_path / "demo" / "emails").iterdir()} >= {"at-risk.eml", "court-order.eml"}
    assert "/dashboard" in done.stdout


def test_queues_and_alerts_read_the_routing_service(stack: dict[str, Service], infra: Infra) -> None:
    queues = run_cli(stack["intake"], infra, "--json", "queues", routing=stack["routing"])
    assert queues.returncode == 0, queues.stderr
    assert {"court", "racs", "unidentified-customer"} <= {q["queue"] for q in json.loads(queues.stdout)}
    human = run_cli(stack["intake"], infra, "queues", routing=stack["routing"])
    assert "specified-image" in human.stdout
    alerts = run_cli(stack["intake"], infra, "--json", "alerts", routing=stack["routing"])
    assert alerts.returncode == 0 and "items" in json.loads(alerts.stdout)
    down = run_cli(stack["intake"], infra, "queues")  # routing URL points nowhere
    assert down.returncode == 3


def test_alerts_ack_and_close_through_the_cli(stack: dict[str, Service], infra: Infra) -> None:
    import asyncio

    from tests.support.api import client, wait_for_status

    async def raise_one() -> str:
        async with client(stack["intake"].base_url) as http:
            raw = email_bytes(sender="cli.alerts@example.net", body="I can't keep going like this. cli-alerts")
            posted = await http.post("/v1/emails?mailbox=edc", content=raw, headers={"Content-Type": "message/rfc822"})
            return str((await wait_for_status(http, posted.json()["document_id"], {"routed"}, 120))["document_id"])

    document_id = asyncio.run(raise_one())
    listed = run_cli(stack["intake"], infra, "--json", "alerts", "--status", "open", routing=stack["routing"])
    assert listed.returncode == 0, listed.stderr
    alert_id = next(a["alert_id"] for a in json.loads(listed.stdout)["items"] if a["document_id"] == document_id)
    acked = run_cli(
        stack["intake"], infra, "--json", "alerts", "ack", alert_id, "--note", "seen", routing=stack["routing"]
    )
    assert acked.returncode == 0, acked.stderr
    assert json.loads(acked.stdout)["status"] == "acknowledged"
    again = run_cli(stack["intake"], infra, "alerts", "ack", alert_id, routing=stack["routing"])
    assert again.returncode == 1 and "409 alert_already_acknowledged" in again.stderr
    no_outcome = run_cli(stack["intake"], infra, "alerts", "close", alert_id, routing=stack["routing"])
    assert no_outcome.returncode == 2  # usage: --outcome is required
    closed = run_cli(
        stack["intake"], infra, "alerts", "close", alert_id, "--outcome", "welfare_check", routing=stack["routing"]
    )
    assert closed.returncode == 0, closed.stderr
    assert "closed (welfare_check)" in closed.stdout
    human = run_cli(stack["intake"], infra, "alerts", "--status", "closed", routing=stack["routing"])
    assert alert_id[:6] in human.stdout.replace("\n", "") and "welfare" in human.stdout
