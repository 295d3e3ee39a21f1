"""The routing process: consumes `mail.classifier.classified` and the dead letters of every stage
before it; publishes `mail.routing.routed`, `mail.queue.<queue>` and `mail.alerts.at-risk`;
serves the directory, queues, alerts and dashboard."""

from __future__ import annotations

from fastapi import FastAPI

from mailintake_common.consumer import Subscription, parse_dead_letter_record
from mailintake_common.events import TOPIC_CLASSIFIED, TOPIC_RECEIVED, TOPIC_SCREENED, dlq_topic, queue_topic
from mailintake_common.observability import configure_logging
from mailintake_common.web import create_service_app, serve
from mailintake_routing import api, dashboard
from mailintake_routing.handlers import make_dead_letter_handler, make_handler
from mailintake_routing.settings import RoutingSettings


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    return create_service_app(
        name="routing",
        settings=settings,
        routers=[api.router, dashboard.router],
        group="routing",
        subscriptions=[
            Subscription(TOPIC_CLASSIFIED, make_handler(settings), stage="routing"),
            # No silent path (issue 13): a document any stage gave up on raises an alert.
            *(
                Subscription(dlq_topic(topic), make_dead_letter_handler(), "alerts", parse_dead_letter_record)
                for topic in (TOPIC_RECEIVED, TOPIC_SCREENED, TOPIC_CLASSIFIED)
            ),
        ],
        extra_topics=[queue_topic(q) for q in api.known_queues()],
    )


def main() -> None:
    settings = RoutingSettings()
    configure_logging("routing", settings.log_level, settings.log_json)
    serve(create_app(settings), settings, settings.routing_port)


app = create_app()
