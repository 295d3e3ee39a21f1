"""The web stack every service serves with (web.py): server, loop and per-request work."""

from __future__ import annotations

import importlib
import inspect
import re
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import Scope

from mailintake_common import tracing
from mailintake_common.auth import KeyCache, Principal, hash_key
from mailintake_common.frame import request_headers
from mailintake_common.gate import SCOPE_MEMORY, RequestGate
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


def test_the_frame_reads_its_headers_from_the_raw_request_headers_first_value_wins() -> None:
    raw = [
        (b"x-api-key", b"secret"),
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        (b"x-trace-id", b"legacy-1"),
        (b"x-trace-id", b"legacy-2"),
        (b"content-length", b"12"),
        (b"cookie", b"mailintake_session=a"),
        (b"cookie", b"mailintake_session=b"),
        (b"idempotency-key", b"k-1"),
    ]
    assert request_headers(raw) == {
        b"x-api-key": b"secret",
        b"traceparent": b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"x-trace-id": b"legacy-1",
        b"content-length": b"12",
        b"cookie": b"mailintake_session=a",
    }
    assert request_headers([(b"content-type", b"text/plain")]) == {}


def test_new_ids_are_w3c_shaped_and_never_zero() -> None:
    spans = {tracing.new_span_id() for _ in range(1000)}
    traces = {tracing.new_trace_id() for _ in range(1000)}
    assert len(spans) == len(traces) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{16}", s) and set(s) != {"0"} for s in spans)
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) and set(t) != {"0"} for t in traces)


def _gate() -> RequestGate:
    from mailintake_intake.api import router

    return RequestGate(service_app=FastAPI(), routers=[router], max_bytes=1024)


def _scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}


def test_the_gate_remembers_each_paths_route_and_scopes_and_forgets_past_its_memory() -> None:
    gate = _gate()
    for _ in range(2):  # the second time from memory
        assert gate.match(_scope("POST", "/v1/emails")) == ("/v1/emails", ("intake:write",))
        assert gate.match(_scope("GET", "/v1/documents/abc")) == ("/v1/documents/{document_id}", ("ops:read",))
        assert gate.match(_scope("POST", "/v1/admin/api-keys")) == ("/v1/admin/api-keys", ("admin",))
        assert gate.match(_scope("GET", "/healthz")) == (None, ())
    for i in range(3 * SCOPE_MEMORY):
        assert gate.match(_scope("GET", f"/v1/documents/{i}"))[1] == ("ops:read",)
    assert len(gate._matches) <= SCOPE_MEMORY
    assert gate.match(_scope("DELETE", "/v1/emails")) == (None, ())  # no such route for the method


async def test_a_cached_key_is_answered_without_building_or_running_a_query() -> None:
    cache = KeyCache(ttl_s=60)
    cache._entries["k:" + hash_key("some-key")] = (time.monotonic(), Principal("k1", "scanner", frozenset()))
    found = await cache.lookup(None, "some-key")  # type: ignore[arg-type]  # no engine: no query may run
    assert found is not None and found.key_id == "k1"


def test_service_logging_looks_up_no_caller_and_writes_the_same_access_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """configure_logging turns off the per-record stack walk for the caller (issue 18); the access
    line still carries exactly its fields."""
    import json
    import logging

    from mailintake_common.observability import configure_logging, log_access

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # restored after the test
    monkeypatch.setattr(root, "level", root.level)
    for name in ("_srcfile", "logProcesses", "logThreads", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))
    configure_logging("intake", "INFO", json_logs=True)
    assert logging._srcfile is None  # type: ignore[attr-defined]
    log_access("POST", "/v1/emails", 202, 3.25, probe=False)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert set(line) == {"ts", "level", "logger", "service", "msg", "method", "route", "status_code", "duration_ms"}
    assert (line["route"], line["status_code"], line["duration_ms"]) == ("/v1/emails", 202, 3.2)
