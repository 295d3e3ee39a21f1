"""JSON logs that never carry personal details, and Prometheus metrics.

Privacy (SPEC 5): a log line carries the message and only the extra fields named in
`SAFE_FIELDS` (ids, stage names, counts, error class names). Anything else passed in
`extra=` is dropped rather than logged, so a careless `extra={"sender": ...}` cannot leak.
Exception tracebacks are reduced to the exception's class and the code locations of the stack
(file, line, function): messages and local values can quote input.

Every line written while a request or an event is handled carries its `trace_id` (tracing.py).
An access log line per request (`mailintake.access`): method, route template, status, duration.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType

from prometheus_client import Counter, Gauge, Histogram

from mailintake_common import tracing

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
        "loop",
        "http",
        "route",
        "trace_id",
    }
)

STACK_DEPTH = 40  # innermost frames kept in a logged stack
_EXTRA_FIELDS = SAFE_FIELDS - {"service"}  # a record's own fields a line may carry ("service" is the process's)


def code_locations(tb: TracebackType | None) -> list[str]:
    """`file:line in function` for each frame of a traceback: where, never what (no values, no source)."""
    frames = traceback.extract_tb(tb)[-STACK_DEPTH:]
    return [f"{_short_path(f.filename)}:{f.lineno} in {f.name}" for f in frames]


def _short_path(filename: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python"):
        if marker in filename:
            return filename.rsplit(marker, 1)[1]
    return filename


def safe_fields(record: logging.LogRecord, service: str) -> dict[str, object]:
    """What a log line may say: the message template (never its arguments), the allowed
    extra fields, the trace id, and for an error its class and code locations (no values)."""
    out: dict[str, object] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
        "level": record.levelname,
        "logger": record.name,
        "service": service,
        "msg": record.msg if isinstance(record.msg, str) else str(record.msg),
    }
    trace_id = tracing.current_trace_id()
    if trace_id is not None:
        out["trace_id"] = trace_id
    fields = record.__dict__
    # the allowed fields the record has, found in one pass in C (issue 18: a line per event)
    for key in _EXTRA_FIELDS.intersection(fields):
        if not (key == "trace_id" and fields[key] is None):
            out[key] = fields[key]
    if record.exc_info and record.exc_info[0] is not None:
        out["exception"] = record.exc_info[0].__name__
        out["stack"] = code_locations(record.exc_info[2])
    return out


class PrivacyJsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service
        self._encode = json.JSONEncoder(default=str).encode  # built once: `json.dumps(default=)` builds one a line

    def format(self, record: logging.LogRecord) -> str:
        return self._encode(safe_fields(record, self._service))


class PrivacyTextFormatter(PrivacyJsonFormatter):
    """The same fields as the JSON lines, for a person at a terminal (`MAILINTAKE_JSON_LOGS=false`)."""

    def format(self, record: logging.LogRecord) -> str:
        out = safe_fields(record, self._service)
        head = f"{out.pop('ts')} {out.pop('level')} {out.pop('logger')} {out.pop('msg')}"
        out.pop("service")
        return " ".join([head, *(f"{key}={value}" for key, value in out.items())])


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    # Neither format interpolates a record's arguments: a library's message can carry contents.
    handler.setFormatter(PrivacyJsonFormatter(service) if json_logs else PrivacyTextFormatter(service))
    # No process id, thread or process name on records: no line shows them, and each is looked
    # up (a system call for the pid) for every record made.
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    # Nor the caller's file, line and function: no line shows them either, and finding them walks
    # the stack for every record (the logging HOWTO's "Optimization" switch).
    logging._srcfile = None  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers can print record contents or client addresses; keep them quiet.
    for noisy in (
        "aiokafka",
        "kafka",
        "uvicorn.access",
        "sqlalchemy",
        "multipart",
        "opentelemetry",
        "httpx",
        "httpcore",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True  # ours (ACCESS) logs the route, not the raw path


ACCESS = logging.getLogger("mailintake.access")


def log_access(method: str, route: str, status: int, duration_ms: float, *, probe: bool) -> None:
    """One line per request: no query string, body, key or raw path (ids in a path are the route's)."""
    level = logging.DEBUG if probe else logging.INFO
    if not ACCESS.isEnabledFor(level):  # a probe's line, usually: build nothing
        return
    ACCESS.log(
        level,
        "request",
        extra={"method": method, "route": route, "status_code": status, "duration_ms": round(duration_ms, 1)},
    )


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
OUTBOX_BACKLOG = Gauge("mailintake_outbox_unpublished", "Outbox rows not yet published (counted up to the cap)")
OUTBOX_OLDEST_AGE = Gauge(
    "mailintake_outbox_oldest_unpublished_seconds", "Age of the oldest outbox row not yet published (0: none)"
)
RELAY_LEADER = Gauge("mailintake_relay_leader", "1 while this process is the active outbox relay")
CONSUMER_LAG = Gauge(
    "mailintake_consumer_lag",
    "Records on the broker not yet applied, per consumer group and partition (this process's assignment)",
    ["group", "topic", "partition"],
)
DOCUMENTS_BY_STATUS = Gauge("mailintake_documents", "Documents by status (counted up to the cap)", ["status"])
DLQ_DEPTH = Gauge("mailintake_dlq_depth", "Events dead-lettered by a consumer group and not applied since", ["group"])
RECONCILER_GAVE_UP = Counter("mailintake_reconciler_gave_up_total", "Documents the reconciler left for a person")
OCR_PAGES = Counter("mailintake_ocr_pages_total", "Pages given to OCR")
OCR_PAGE_SECONDS = Histogram(
    "mailintake_ocr_page_seconds",
    "Time to OCR one page in a worker",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160),
)
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


def event_handled(
    consumer: str, where: tuple[str, int, int], ids: tuple[str | None, str | None], outcome: str, elapsed: float
) -> None:
    """A consumed event's metrics and its one log line (topic, partition, offset; event type and
    document id; outcome): the consumer's access log, ids only."""
    topic, partition, offset = where
    EVENTS_CONSUMED.labels(consumer, topic, outcome).inc()
    HANDLER_SECONDS.labels(consumer, topic).observe(elapsed)
    fields = {"consumer": consumer, "topic": topic, "partition": partition, "offset": offset}
    fields |= {"event_type": ids[0], "document_id": ids[1], "outcome": outcome, "duration_ms": round(elapsed * 1000, 1)}
    logging.getLogger("mailintake_common.consumer").info("event handled", extra=fields)
