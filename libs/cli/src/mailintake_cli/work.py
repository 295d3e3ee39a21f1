"""Commands for work after routing and recovery (issue 16): completing queue items, failed
documents, dead letters and the quarantine. Each is one HTTP call to the service that owns the
thing (dead letters: the service that consumes their topic), with the caller's key."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mailintake_cli.client import EXIT_UNREACHABLE, CliError, describe_error

console = Console()
err_console = Console(stderr=True)
DLQ_OWNERS = ("quarantine", "classifier", "routing")  # the services that consume topics


def _emit(obj: Any, data: Any, human: Any) -> None:
    if obj.as_json:
        obj.emit(data)
    else:
        human()


def _table(columns: tuple[str, ...], rows: list[list[Any]]) -> Table:
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")  # ids wrap rather than lose characters
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def _all_pages(api: Any, path: str, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while len(items) < limit:
        page = api.json("GET", path, params={**params, "limit": min(500, limit - len(items)), "cursor": cursor})
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


@click.group()
def items() -> None:
    """Queue items: complete one."""


@items.command("complete")
@click.argument("queue")
@click.argument("document_id")
@click.option("--outcome", required=True, help="what was done, e.g. attached, actioned (on the timeline)")
@click.option("--note", default="", help="stored on the item, never logged")
@click.pass_obj
def items_complete(obj: Any, queue: str, document_id: str, outcome: str, note: str) -> None:
    """Complete an open item (needs an ops:write key); it leaves depth and overdue."""
    done = obj.routing.json(
        "POST", f"/v1/queues/{queue}/items/{document_id}/complete", json={"outcome": outcome, "note": note}
    )
    _emit(obj, done, lambda: console.print(f"item {done['document_id']} in {done['queue']} completed: {outcome}"))


@click.group()
def failed() -> None:
    """Failed documents: list them, retry one."""


@failed.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.pass_obj
def failed_list(obj: Any, limit: int) -> None:
    """Documents a stage gave up on, with the stage and why."""
    rows = _all_pages(obj.intake, "/v1/documents", {"status": "failed"}, limit)
    columns = ("document", "channel", "stage", "failed at", "reasons")
    table = [[r["document_id"], r["channel"], r["stage"], r["failed_at"], "; ".join(r["reasons"])] for r in rows]
    _emit(obj, rows, lambda: console.print(_table(columns, table)))


@failed.command("retry")
@click.argument("document_id")
@click.pass_obj
def failed_retry(obj: Any, document_id: str) -> None:
    """Run a failed document's failed stage again (admin)."""
    done = obj.intake.json("POST", f"/v1/documents/{document_id}/retry")
    _emit(obj, done, lambda: console.print(f"document {document_id} sent again to {done['topic']}"))


@click.group()
def dlq() -> None:
    """Dead letters: list them, replay one (through the service that owns the topic)."""


@dlq.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.pass_obj
def dlq_list(obj: Any, limit: int) -> None:
    """Dead letters of every stage, with the error and whether the event was processed since."""
    rows: list[dict[str, Any]] = []
    unreachable: list[str] = []
    for name in DLQ_OWNERS:
        try:
            rows.extend(_all_pages(getattr(obj, name), "/v1/dlq", {}, limit - len(rows)))
        except CliError as exc:
            if exc.exit_code != EXIT_UNREACHABLE:
                raise
            unreachable.append(name)
        if len(rows) >= limit:
            break
    if unreachable and len(unreachable) == len(DLQ_OWNERS):
        raise CliError("cannot reach any service that owns dead letters", EXIT_UNREACHABLE)
    for name in unreachable:
        err_console.print(f"[yellow]warning:[/] {name} unreachable; its dead letters are not listed")
    columns = ("id", "document", "error", "failed at", "processed since")
    table = [[r["id"], r["document_id"], r["error"], r["failed_at"], r["processed_since"]] for r in rows]
    _emit(obj, rows, lambda: console.print(_table(columns, table)))


@dlq.command("replay")
@click.argument("dead_letter_id")
@click.pass_obj
def dlq_replay(obj: Any, dead_letter_id: str) -> None:
    """Send a dead letter back to its topic (admin): its stage processes it again."""
    for name in DLQ_OWNERS:
        api = getattr(obj, name)
        try:
            response = api.request("POST", f"/v1/dlq/{dead_letter_id}/replay")
        except CliError:
            continue
        if response.status_code == 404:
            continue
        if response.status_code >= 400:
            raise CliError(describe_error(response))
        done = response.json()
        message = f"{dead_letter_id} sent back to {done['topic']}"
        _emit(obj, done, lambda text=message: console.print(text))
        return
    raise CliError("404 not_found: no service knows this dead letter (see `mailintake dlq list`)")


@click.group(name="quarantine")
def quarantine() -> None:
    """Held items: list them, release one after adjustment."""


@quarantine.command("list")
@click.option("--reason", help="encrypted, media, harmful or size")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.pass_obj
def quarantine_list(obj: Any, reason: str | None, limit: int) -> None:
    """Items held by screening, with the reasons and whether they can be released."""
    rows = _all_pages(obj.quarantine, "/v1/quarantine", {"reason": reason} if reason else {}, limit)
    columns = ("document", "verdict", "held at", "releasable", "reasons")
    table = [[r["document_id"], r["verdict"], r["held_at"], r["releasable"], "; ".join(r["reasons"])] for r in rows]
    _emit(obj, rows, lambda: console.print(_table(columns, table)))


@quarantine.command("release")
@click.argument("document_id")
@click.option("--reason", default="adjusted by the mailbox team", show_default=True, help="what was adjusted")
@click.pass_obj
def quarantine_release(obj: Any, document_id: str, reason: str) -> None:
    """Release a manual-adjustment item after adjustment (admin); never an encrypted, media or harmful one."""
    done = obj.quarantine.json("POST", f"/v1/quarantine/{document_id}/release", json={"reason": reason})
    _emit(obj, done, lambda: console.print(f"document {document_id} released ({done.get('verdict')})"))


def register(cli: click.Group) -> None:
    for group in (items, failed, dlq, quarantine):
        cli.add_command(group)
