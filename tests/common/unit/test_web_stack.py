"""The web stack every service serves with (web.py): server, loop and per-request work."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from mailintake_common.settings import CommonSettings
from mailintake_common.web import server_stack


def test_the_server_runs_on_uvloop_and_httptools_when_installed() -> None:
    assert server_stack(CommonSettings()) == {"loop": "uvloop", "http": "httptools"}


def test_turning_the_fast_loop_off_falls_back_to_asyncio_and_h11() -> None:
    assert server_stack(CommonSettings(fast_event_loop=False)) == {"loop": "asyncio", "http": "h11"}


def test_a_missing_uvloop_falls_back_to_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "uvloop" else real(name))
    assert server_stack(CommonSettings()) == {"loop": "asyncio", "http": "httptools"}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dep in dependant.dependencies:
        yield dep
        yield from _dependencies(dep)


@pytest.mark.parametrize("service", ["intake", "quarantine", "routing"])
def test_no_route_or_dependency_is_run_in_a_worker_thread(service: str) -> None:
    """FastAPI runs a plain `def` route or dependency in a thread pool: a thread hand-off per request
    that cost intake more CPU than the rest of its web frame (issue 18). Every one is async."""
    api = importlib.import_module(f"mailintake_{service}.api")
    routes = [r for r in api.router.routes if isinstance(r, APIRoute)]
    assert routes
    sync = [
        f"{route.path}: {getattr(dep.call, '__name__', dep.call)}"
        for route in routes
        for dep in [route.dependant, *_dependencies(route.dependant)]
        if dep.call is not None and not inspect.iscoroutinefunction(dep.call)
    ]
    assert sync == []
