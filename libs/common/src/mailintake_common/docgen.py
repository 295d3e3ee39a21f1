"""Generates docs/events.md and docs/configuration.md from the code, so docs match it.

`python -m mailintake_common.docgen` rewrites both; `--check` exits 1 when either is stale
(a test runs the check). Settings' meanings are the comment lines just above each field.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import textwrap
import typing
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from mailintake_common import events
from mailintake_common.settings import CommonSettings

SERVICES = ("intake", "quarantine", "classifier", "routing")

TOPICS = [
    (events.TOPIC_RECEIVED, "intake", "quarantine", [events.EVENT_RECEIVED]),
    (events.TOPIC_SCREENED, "quarantine", "classifier", [events.EVENT_SCREENED]),
    (events.TOPIC_CLASSIFIED, "classifier", "routing", [events.EVENT_CLASSIFIED]),
    (events.TOPIC_ROUTED, "routing", "downstream systems", [events.EVENT_ROUTED]),
    (f"{events.QUEUE_TOPIC_PREFIX}<queue>", "routing", "the team working each queue", [events.EVENT_QUEUED]),
    (events.TOPIC_ALERTS, "routing", "at-risk response staff", [events.EVENT_AT_RISK]),
    ("<topic>.dlq", "any consumer", "operators (runbook)", ["dead_letter"]),
]


def _type_name(annotation: object) -> str:
    text = str(annotation) if typing.get_origin(annotation) else getattr(annotation, "__name__", str(annotation))
    return text.replace("typing.", "").replace("mailintake_common.events.", "").replace("datetime.", "")


def _models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for field in model.model_fields.values():
            for arg in (field.annotation, *typing.get_args(field.annotation)):
                for inner in (arg, *typing.get_args(arg)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        visit(inner)

    for model in dict.fromkeys(events.PAYLOADS.values()):
        visit(model)
    visit(events.BlobRef)
    return seen


def events_doc() -> str:
    out = [
        "# Event catalogue",
        "",
        "Generated from `libs/common/src/mailintake_common/events.py` by "
        "`python -m mailintake_common.docgen`; do not edit by hand.",
        "",
        "Every message: key = document id; value = JSON envelope "
        "`{event_id, event_type, schema_version, document_id, occurred_at, payload}`; "
        "headers `event_type`, `trace_id` and W3C `traceparent` (the span that wrote the event; the "
        "consumer continues that trace). Delivery is at least once: consumers skip event ids they "
        "have applied. Adding a field with a default keeps the version; anything else is a new version.",
        "",
        "## Topics",
        "",
        "| Topic | Written by | Read by | Event types |",
        "|---|---|---|---|",
    ]
    for topic, producer, consumer, types in TOPICS:
        out.append(f"| `{topic}` | {producer} | {consumer} | {', '.join(f'`{t}`' for t in types)} |")
    out += ["", "## Event types and versions", "", "| event_type | schema_version | payload |", "|---|---|---|"]
    for (event_type, version), model in events.PAYLOADS.items():
        out.append(f"| `{event_type}` | {version} | [{model.__name__}](#{model.__name__.lower()}) |")
    out += [
        "",
        "Personal details stay in the database (issue 15): the v2 payloads carry ids, blob references "
        "and decisions only, never names, dates of birth, email addresses, CRNs, ABNs, subjects, "
        "filenames or passages. The producing service writes those to its own table in the same "
        "transaction as the event (intake `received_details`, quarantine `screening_details`, the "
        "classifier `classification_details`; `mailintake_common.details`), and the consuming service "
        "reads them from PostgreSQL by document id. The v1 payloads are what a stage decides on (v2 "
        "joined with its details); consumers still read a v1 event written before the upgrade, and "
        "nothing writes v1 any more.",
        "",
        "Dead letters (`<topic>.dlq`) are plain JSON: `topic, partition, offset, key, value, error, "
        "consumer, failed_at, attempts, worker_failures` (the last two as counted in `consumer_attempts`); "
        "`value` is the original record, so a dead letter carries no more than the event it holds.",
        "",
        "## Payload models",
    ]
    for model in _models():
        out += ["", f"### {model.__name__}", ""]
        doc = inspect.getdoc(model)
        if doc and model.__doc__:
            out += [textwrap.fill(" ".join(doc.split()), 100), ""]
        out += ["| Field | Type | Default |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            default = "required" if field.is_required() else f"`{field.get_default(call_default_factory=True)!r}`"
            out.append(f"| `{name}` | `{_type_name(field.annotation)}` | {default} |")
    return "\n".join(out) + "\n"


def _field_comments(cls: type) -> dict[str, str]:
    """The comment lines directly above each annotated field in the class body."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above: list[str] = []
            row = node.lineno - 2
            while row >= 0 and lines[row].strip().startswith("#"):
                above.insert(0, lines[row].strip().lstrip("#").strip())
                row -= 1
            trailing = lines[node.lineno - 1].split("#", 1)
            text = " ".join(above) or (trailing[1].strip() if len(trailing) > 1 else "")
            comments[node.target.id] = text
    return comments


def _settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    found: list[tuple[str, type[BaseSettings]]] = [("all services", CommonSettings)]
    for service in SERVICES:
        try:
            module = importlib.import_module(f"mailintake_{service}.settings")
        except ImportError:
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value is not CommonSettings
                and value.__module__ == module.__name__
            ):
                found.append((service, value))
    return found


def configuration_doc() -> str:
    out = [
        "# Configuration reference",
        "",
        "Generated from the settings classes by `python -m mailintake_common.docgen`; do not edit by hand.",
        "Every setting is an environment variable `MAILINTAKE_<NAME>`; defaults suit `make run`.",
    ]
    for owner, cls in _settings_classes():
        out += ["", f"## {cls.__name__} ({owner})", "", "| Variable | Default | Meaning |", "|---|---|---|"]
        comments: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            if isinstance(klass, type) and issubclass(klass, BaseSettings) and klass is not BaseSettings:
                comments.update(_field_comments(klass))
        own = set(cls.model_fields) - (set(CommonSettings.model_fields) if cls is not CommonSettings else set())
        for name, field in cls.model_fields.items():
            if name not in own and cls is not CommonSettings:
                continue
            default = field.get_default(call_default_factory=True)
            shown = "unset" if default is None else f"`{default}`"
            if isinstance(default, SecretStr):  # the type says what is secret, not the name
                shown = "(secret)"
            out.append(f"| `MAILINTAKE_{name.upper()}` | {shown} | {comments.get(name, '')} |")
    return "\n".join(out) + "\n"


def main() -> None:
    docs = Path(sys.argv[2] if len(sys.argv) > 2 else "docs")
    wanted = {docs / "events.md": events_doc(), docs / "configuration.md": configuration_doc()}
    if "--check" in sys.argv:
        stale = [str(p) for p, text in wanted.items() if not p.exists() or p.read_text() != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run `python -m mailintake_common.docgen`")
            sys.exit(1)
        return
    docs.mkdir(exist_ok=True)
    for path, text in wanted.items():
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
