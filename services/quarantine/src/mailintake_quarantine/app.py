"""The quarantine process: consumes `mail.intake.received`, publishes `mail.quarantine.screened`."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from mailintake_common.consumer import Subscription
from mailintake_common.events import TOPIC_RECEIVED
from mailintake_common.observability import configure_logging
from mailintake_common.spool import sweep_spools
from mailintake_common.web import Runtime, create_service_app, serve
from mailintake_common.workers import start_ahead
from mailintake_quarantine.api import router
from mailintake_quarantine.handlers import make_handler, screening_pool
from mailintake_quarantine.settings import QuarantineSettings


def create_app(settings: QuarantineSettings | None = None) -> FastAPI:
    settings = settings or QuarantineSettings()
    pool = screening_pool(settings)

    async def on_startup(runtime: Runtime) -> None:  # the screening workers import the readers now
        runtime.tasks.append(asyncio.create_task(start_ahead(pool), name="quarantine-workers"))

    app = create_service_app(
        name="quarantine",
        settings=settings,
        routers=[router],
        group="quarantine",
        subscriptions=[Subscription(TOPIC_RECEIVED, make_handler(settings, pool), stage="quarantine")],
        on_startup=on_startup,
    )
    app.state.screening_pool = pool
    return app


def main() -> None:
    settings = QuarantineSettings()
    configure_logging("quarantine", settings.log_level, settings.log_json)
    sweep_spools(settings)  # part files a killed copy of this service left behind (issue 17)
    app = create_app(settings)
    try:
        serve(app, settings, settings.quarantine_port)
    finally:
        app.state.screening_pool.close()


app = create_app()
