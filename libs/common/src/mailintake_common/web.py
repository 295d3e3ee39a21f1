"""The frame every service's FastAPI app is built in.

`create_service_app` gives each service the same rooms: one frame around every request (frame.py:
trace, the request gate with body limit, key and scope before the body, security headers, request
metrics and the access line), error handling, `/healthz`, `/readyz`, `/metrics`, and a lifespan
that opens the database engine, ensures the bootstrap admin key, creates the Kafka topics, and
runs the background work (consumer runner, outbox relay, reconciler) until shutdown.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import dead_letters, readiness, tracing
from mailintake_common.auth import KeyCache, WeakKey, check_key_strength
from mailintake_common.blobs import check_blob_settings, object_store_reachable
from mailintake_common.consumer import ConsumerRunner, Subscription
from mailintake_common.db import make_engine, ping
from mailintake_common.errors import install_error_handlers
from mailintake_common.events import (
    TOPIC_ALERTS,
    TOPIC_CLASSIFIED,
    TOPIC_RECEIVED,
    TOPIC_ROUTED,
    TOPIC_SCREENED,
    dlq_topic,
)
from mailintake_common.frame import ServiceFrame
from mailintake_common.gate import RequestGate
from mailintake_common.gauges import run_gauges
from mailintake_common.kafka import KafkaSecurityError, apply_topics, broker_reachable, check_kafka_security
from mailintake_common.keys import ensure_bootstrap_key
from mailintake_common.outbox import Relay
from mailintake_common.reconciler import run_reconciler
from mailintake_common.settings import CommonSettings
from mailintake_common.topics import topic_specs

log = logging.getLogger(__name__)

CORE_TOPICS = (TOPIC_RECEIVED, TOPIC_SCREENED, TOPIC_CLASSIFIED, TOPIC_ROUTED, TOPIC_ALERTS)


@dataclass
class Runtime:
    """What a running service holds; `request.app.state.runtime`."""

    settings: CommonSettings
    engine: AsyncEngine
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    runner: ConsumerRunner | None = None
    relay: Relay | None = None
    consumer_task: asyncio.Task[Any] | None = None


async def get_engine(request: Request) -> AsyncEngine:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread
    # hand-off per request that cost more CPU than the rest of the frame (bench/web_frame.py).
    return request.app.state.engine  # type: ignore[no-any-return]


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]


def server_stack(settings: CommonSettings) -> dict[str, str]:
    """uvloop and httptools (pinned in constraints.txt) when installed and not turned off, else asyncio and h11.

    The loop is the whole process's: the consumer runner, relay and reconciler run in it too."""
    fast = settings.fast_event_loop
    return {
        "loop": "uvloop" if fast and importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if fast and importlib.util.find_spec("httptools") else "h11",
    }


def serve(app: FastAPI, settings: CommonSettings, port: int) -> None:
    """Run a service's app until SIGINT or SIGTERM (every service's `main()`)."""
    stack = server_stack(settings)
    log.info("serving", extra={"port": port, "loop": stack["loop"], "http": stack["http"]})
    # No uvicorn access log: ours (frame.py) names the route, and uvicorn formats its line's
    # arguments (client, quoted path) for every response even while its logger is off.
    uvicorn.run(
        app,
        host=settings.host,
        port=port,
        log_config=None,
        access_log=False,
        loop=stack["loop"],
        http=stack["http"],
    )


def start_tracing(service: str) -> None:
    """OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; a broken setup never stops the service."""
    try:
        tracing.setup_tracing(service)
    except Exception as exc:
        log.warning("tracing not started", extra={"service": service, "error": type(exc).__name__})


async def readiness_answer(runtime: Runtime) -> JSONResponse:
    """`/readyz`: the database, the broker and the consumer loop, weighed by readiness.py."""
    db_ok, broker_ok, objects_ok = await asyncio.gather(
        ping(runtime.engine),
        broker_reachable(runtime.settings),
        object_store_reachable(runtime.settings),  # None unless MAILINTAKE_BLOB_STORE=s3
    )
    consumer: readiness.LoopState = "none"
    if runtime.runner is not None:
        started, assigned = runtime.runner.membership()
        consumer = readiness.loop_state(runtime.consumer_task, started=started, assigned=assigned)
    answer = readiness.decide(
        database=db_ok,
        broker=broker_ok,
        consumer=consumer,
        broker_required=runtime.settings.ready_requires_broker,
        object_store=objects_ok,
    )
    body = answer.body(db_ok, broker_ok, consumer, objects_ok)
    return JSONResponse(body, status_code=200 if answer.ready else 503)


def create_service_app(
    *,
    name: str,
    settings: CommonSettings,
    routers: Iterable[APIRouter] = (),
    group: str | None = None,
    subscriptions: Iterable[Subscription] = (),
    extra_topics: Iterable[str] = (),
    on_startup: Callable[[Runtime], Awaitable[None]] | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    routers = list(routers)
    subs = list(subscriptions)
    topics = set(CORE_TOPICS) | set(extra_topics) | {s.topic for s in subs}
    topics |= {dlq_topic(t) for t in list(topics)}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_blob_settings(settings)  # an S3 store without keys stops the service here
        start_tracing(name)
        engine = make_engine(settings)
        runtime = Runtime(settings=settings, engine=engine)
        app.state.engine = engine
        app.state.runtime = runtime
        app.state.key_cache = KeyCache(settings.key_cache_ttl_s)
        if settings.bootstrap_admin_key is not None:  # a weak key stops the service here, before it serves
            try:
                check_key_strength(settings.bootstrap_admin_key.get_secret_value(), "MAILINTAKE_BOOTSTRAP_ADMIN_KEY")
            except WeakKey as exc:
                log.error(exc.detail, extra={"service": name})
                raise
        try:  # a bad Kafka security setting stops the service here too, naming the setting
            check_kafka_security(settings)
        except KafkaSecurityError as exc:
            log.error(exc.detail, extra={"service": name})
            raise
        try:
            if settings.bootstrap_admin_key is not None:
                await ensure_bootstrap_key(engine, settings.bootstrap_admin_key.get_secret_value())
        except Exception as exc:  # the database may come later; /readyz tells
            log.warning("bootstrap key not stored yet", extra={"error": type(exc).__name__})
        try:
            await apply_topics(settings, topic_specs(topics, settings))
        except Exception as exc:
            log.warning("topics not created yet", extra={"error": type(exc).__name__})
        if on_startup is not None:
            await on_startup(runtime)
        if subs:
            runtime.runner = ConsumerRunner(engine, settings, group or name, subs)
            runtime.consumer_task = asyncio.create_task(runtime.runner.run(), name=f"{name}-consumer")
            runtime.tasks.append(runtime.consumer_task)
        if settings.relay_enabled:
            runtime.relay = Relay(engine, settings)
            runtime.tasks.append(asyncio.create_task(runtime.relay.run(), name=f"{name}-relay"))
        if settings.reconciler_enabled:
            runtime.tasks.append(asyncio.create_task(run_reconciler(engine, settings), name=f"{name}-reconciler"))
        runtime.tasks.append(asyncio.create_task(run_gauges(engine, settings), name=f"{name}-gauges"))
        log.info("service started", extra={"service": name})
        try:
            yield
        finally:
            for task in runtime.tasks:
                task.cancel()
            for task in runtime.tasks:
                with suppress(asyncio.CancelledError, Exception):
                    await task
            await engine.dispose()
            tracing.shutdown_tracing()
            log.info("service stopped", extra={"service": name})

    # No Swagger or ReDoc pages: they run inline script, which the HTML policy forbids (/openapi.json stays).
    fastapi_kwargs.setdefault("docs_url", None)
    fastapi_kwargs.setdefault("redoc_url", None)
    # FastAPI's own OpenTelemetry spans and metrics stay off: tracing.py makes this service's spans
    # (issue 16), and the check whether FastAPI's are configured ran on every request (issue 18).
    fastapi_kwargs.setdefault("telemetry", {"tracing": False, "metrics": False, "logs": False})
    app = FastAPI(title=f"mail-intake {name}", lifespan=lifespan, **fastapi_kwargs)
    app.state.settings = settings
    install_error_handlers(app)

    # One layer of ours (frame.py): trace, gate, security headers, metrics and access line.
    # The dead-letter routes too, so their scope is checked before their body like every other route's.
    gated = [*routers, dead_letters.router] if subs else routers
    gate = RequestGate(service_app=app, routers=gated, max_bytes=settings.max_request_bytes)
    app.add_middleware(ServiceFrame, service=name, service_app=app, gate=gate, log_probes=settings.access_log_probes)

    @app.get("/healthz", include_in_schema=True, tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        return await readiness_answer(request.app.state.runtime)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        # Only what is in memory: database and broker gauges are refreshed by a periodic task (gauges.py).
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    # The dead letters of what this service consumes: listed and replayed here (issue 16).
    app.state.dead_letter_topics = sorted({dlq_topic(s.topic) for s in subs})
    if subs:
        app.include_router(dead_letters.router)
    return app
