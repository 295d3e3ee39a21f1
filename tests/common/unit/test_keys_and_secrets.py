"""Keys carry 32 random bytes, a key grants only what it holds, and no secret has a default (issue 15)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
import yaml

from mailintake_common.auth import (
    Principal,
    WeakKey,
    check_key_strength,
    key_strength_problem,
    new_key,
    scopes_not_held,
)
from mailintake_common.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "weak",
    [
        "change-me-admin-key",
        "test-admin-key-0123456789",
        secrets.token_urlsafe(24),  # what `make run` used to generate: 192 bits
        secrets.token_hex(31),
        "a" * 200,
        "0123456789abcdef" * 4,
        "9" * 80,
    ],
)
def test_keys_under_32_random_bytes_are_refused(weak: str) -> None:
    assert key_strength_problem(weak) is not None
    with pytest.raises(WeakKey) as refused:
        check_key_strength(weak)
    assert weak not in refused.value.detail  # the refusal never repeats the secret


@pytest.mark.parametrize("maker", [new_key, lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(32)])
def test_keys_of_32_random_bytes_are_accepted(maker) -> None:
    assert all(key_strength_problem(maker()) is None for _ in range(200))


def test_a_key_grants_only_what_it_holds() -> None:
    held = frozenset({"admin", "ops:read", "racs:2"})
    assert scopes_not_held(held, ["ops:read", "racs:1", "racs:2"]) == []
    assert scopes_not_held(held, ["racs:3", "intake:write", "ops:read"]) == ["intake:write", "racs:3"]
    assert Principal("k", "n", held).holds("racs:1") and not Principal("k", "n", held).holds("ops:write")


def test_the_bootstrap_key_has_no_default() -> None:
    assert CommonSettings.model_fields["bootstrap_admin_key"].default is None


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_takes_every_secret_from_the_environment_and_has_no_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    compose = _compose()
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${MAILINTAKE_DB_PASSWORD:?")
    for service in ("intake", "migrate"):
        env = compose["services"][service]["environment"]
        assert "${MAILINTAKE_DB_PASSWORD:?" in env["MAILINTAKE_DATABASE_URL"]
    assert compose["services"]["intake"]["environment"]["MAILINTAKE_BOOTSTRAP_ADMIN_KEY"].startswith(
        "${MAILINTAKE_BOOTSTRAP_ADMIN_KEY:?"
    )
    # No `${VAR:-default}` or `${VAR-default}` anywhere, and no literal user:password in a URL.
    assert not re.search(r"\$\{[A-Z_]+:?-", text)
    assert not re.search(r"://[^:@/\s]+:[^$@/\s]+@", text)
