"""The repository's own promises: the compose file is valid and CI calls `make test`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose_command() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_runs_four_services_against_kafka_and_postgres_after_migrating() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"intake", "quarantine", "classifier", "routing", "kafka", "postgres", "migrate"} <= set(services)
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    for name in ("intake", "quarantine", "classifier", "routing"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_file_is_accepted_by_compose() -> None:
    command = compose_command()
    assert command is not None, "docker compose or docker-compose is needed (scripts/system-deps.sh installs it)"
    config = [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"]
    secrets = {
        "MAILINTAKE_DB_PASSWORD": "0f" * 24,
        "MAILINTAKE_BOOTSTRAP_ADMIN_KEY": "mik_" + "Zq7vN2pL9xR4sT8wY1bC6dF3gH5jK0mQaE9uW2iO4pS",
    }
    result = subprocess.run(config, capture_output=True, env={**os.environ, **secrets})
    assert result.returncode == 0, result.stderr.decode()
    # No default secrets (issue 15): without them compose refuses, naming what is missing.
    bare = {k: v for k, v in os.environ.items() if k not in secrets}
    refused = subprocess.run(config, capture_output=True, env=bare)
    assert refused.returncode != 0 and b"MAILINTAKE_" in refused.stderr


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_generated_docs_match_the_code() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mailintake_common.docgen", "--check", str(ROOT / "docs")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_every_setting_has_a_meaning() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    blank = [line for line in text.splitlines() if line.startswith("| `MAILINTAKE_") and line.endswith("|  |")]
    assert blank == []


def test_without_a_docker_engine_the_fixtures_fall_back_to_local_processes(monkeypatch) -> None:
    import shutil

    from tests.support.stack import _try_containers

    if shutil.which("dockerd") is not None:
        return  # an engine may be running here: nothing to check
    monkeypatch.setenv("MAILINTAKE_TEST_DOCKER", "1")
    assert _try_containers() is None  # DockerException at construction -> local PostgreSQL and Tansu


def test_the_configuration_reference_hides_secrets_by_type_not_by_name() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[2].strip()
        for line in text.splitlines()
        if line.startswith("| `MAILINTAKE_")
    }
    assert rows["MAILINTAKE_KEY_CACHE_TTL_S"] == "`1.0`"  # "key" in a name is not a secret
    assert rows["MAILINTAKE_BOOTSTRAP_ADMIN_KEY"] == "unset"
    shown = [
        name
        for name, value in rows.items()
        if value not in ("unset", "(secret)") and name.endswith(("PASSWORD", "SECRET_ACCESS_KEY"))
    ]
    assert shown == []


def test_no_module_of_the_services_or_libraries_is_over_400_lines() -> None:
    """STYLE.md "Size and words", issue 14 (done when: no module over 400 lines)."""
    long = {
        str(path.relative_to(ROOT)): lines
        for top in ("services", "libs")
        for path in (ROOT / top).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


def test_no_domain_module_imports_a_web_framework_or_http_errors() -> None:
    """STYLE.md "Domain errors, not HTTP errors in domain/", issue 14 (code shape): a domain rule
    raises a domain error (`domain_errors.py`); only the web layer knows HTTP statuses."""
    import ast

    web = ("fastapi", "starlette", "mailintake_common.errors", "mailintake_common.web")
    offending = []
    for path in sorted((ROOT / "services").glob("*/src/*/domain/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offending += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in web or n in web]
    assert not offending, offending
