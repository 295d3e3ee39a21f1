"""The intake process: the FastAPI app (`mailintake_intake.app:app`) and `main()`.

Intake consumes nothing; it runs the outbox relay that publishes its `received` events
(and everyone's, when it is the only relay) and the reconciler.
"""

from __future__ import annotations

from fastapi import FastAPI

from mailintake_common.observability import configure_logging
from mailintake_common.web import create_service_app, serve
from mailintake_intake.api import router
from mailintake_intake.settings import IntakeSettings


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    app = create_service_app(name="intake", settings=settings, routers=[router])
    app.state.settings = settings
    return app


def main() -> None:
    settings = IntakeSettings()
    configure_logging("intake", settings.log_level, settings.log_json)
    serve(create_app(settings), settings, settings.intake_port)


app = create_app()
