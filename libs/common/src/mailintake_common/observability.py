"""JSON logs that never carry personal details, and Prometheus metrics.

Privacy (SPEC 5): a log line carries the message and only the extra fields named in
`SAFE_FIELDS` (ids, stage names, counts, error class names). Anything else passed in
`extra=` is dropped rather than logged, so a careless `extra={"sender": ...}` cannot leak.
Exception tracebacks are reduced to the exception's class: messages can quote input.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

SAFE_FIELDS = frozenset(
    {
        "service",
        "document_id",
        "event_id",
        "event_type",
        "topic",
        "partition",
        "offset",
        "consumer",
        "stage",
        "outcome",
        "queue",
        "rule",
        "attempt",
        "count",
        "error",
        "status_code",
        "method",
        "path",
        "duration_ms",
        "key_id",
        "alert_id",
        "port",
    }
)


class PrivacyJsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "service": self._service,
            "msg": record.msg if isinstance(record.msg, str) else str(record.msg),
        }
        for key in SAFE_FIELDS:
            if key in record.__dict__ and key != "service":
                out[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(PrivacyJsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers can print record contents or client addresses; keep them quiet.
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "sqlalchemy", "multipart"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True


# -- metrics (labels are never personal: service, topic, stage, outcome, queue) -----------

HTTP_REQUESTS = Counter("mailintake_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("mailintake_http_request_seconds", "HTTP request latency", ["service", "route"])
EVENTS_CONSUMED = Counter("mailintake_events_consumed_total", "Events handled", ["consumer", "topic", "outcome"])
HANDLER_SECONDS = Histogram(
    "mailintake_handler_seconds",
    "Time spent handling one event",
    ["consumer", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
OUTBOX_PUBLISHED = Counter("mailintake_outbox_published_total", "Outbox rows acknowledged by the broker")
OUTBOX_PUBLISH_ERRORS = Counter("mailintake_outbox_publish_errors_total", "Relay publish failures")
RECONCILED = Counter("mailintake_reconciled_total", "Stage inputs republished by the reconciler", ["stage"])
DOCUMENTS_RECEIVED = Counter("mailintake_documents_received_total", "Documents accepted by intake", ["channel"])
CONSUMER_RECONNECTS = Counter("mailintake_consumer_reconnects_total", "Consumer restarts", ["consumer"])
OUTBOX_BACKLOG = Gauge("mailintake_outbox_unpublished", "Outbox rows not yet published")
ALERT_EVENTS = Counter("mailintake_alert_events_total", "Alerts raised, reopened, acknowledged and closed", ["event"])
STAGE_OUTCOMES = Counter(
    "mailintake_stage_outcomes_total",
    "Decisions per stage and outcome (verdict, document type, queue)",
    ["stage", "outcome"],
)
WORKERS_LOST = Counter(
    "mailintake_workers_lost_total",
    "Worker processes lost to a task: crash (died, memory limit), timeout (killed), cancelled",
    ["pool", "kind"],
)
