"""`mailintake`: the operators' command line for a running mail-intake.

    mailintake submit email|scan|webform FILE...   post documents (progress bar for many)
    mailintake status DOCUMENT_ID                  a document's status and timeline
    mailintake queues                              queue depths
    mailintake alerts [--status S]                 alerts (open, acknowledged or closed)
    mailintake alerts ack ALERT_ID [--note N]      acknowledge an alert
    mailintake alerts close ALERT_ID --outcome O   close it: referred|welfare_check|no_action|other
    mailintake tail QUEUE [-f] [-n N]              a queue's events (routing's API; -f follows)
    mailintake keys create NAME --scope S...       make an API key
    mailintake items complete QUEUE DOCUMENT_ID --outcome O [--note N]
    mailintake failed list | failed retry DOCUMENT_ID
    mailintake dlq list | dlq replay DEAD_LETTER_ID
    mailintake quarantine list [--reason R] | quarantine release DOCUMENT_ID --reason R
    mailintake keys list [--revoked]               keys: name, scopes, created, last used (never the key)
    mailintake keys revoke NAME                    revoke every active key of that name, on every service

Every command takes `--json` for scripts, before or after the command's name. Exit codes:
0 ok, 1 refused or partly failed, 2 bad usage, 3 service unreachable.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from mailintake_cli.client import EXIT_FAILED, Api, CliError, default_key, describe_error
from mailintake_cli.submit import Outcome, submit_one
from mailintake_cli.work import register

console = Console()
err_console = Console(stderr=True)
json_after = click.option("--json", "as_json", is_flag=True, help="machine-readable output (as before the command)")


class Context:
    def __init__(self, urls: dict[str, str], key: str | None, as_json: bool) -> None:
        self.intake = Api(urls["intake"].rstrip("/"), key)
        self.quarantine = Api(urls["quarantine"].rstrip("/"), key)
        self.classifier = Api(urls["classifier"].rstrip("/"), key)
        self.routing = Api(urls["routing"].rstrip("/"), key)
        self.as_json = as_json

    def emit(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, default=str))


class JsonAnywhere(click.Group):
    """`--json` is the group's option, yet scripts may put it after the command too
    (`mailintake queues --json`): it is moved to the front before parsing."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        if "--json" in args[:end]:
            args = ["--json", *(a for i, a in enumerate(args) if not (a == "--json" and i < end))]
        return super().parse_args(ctx, args)


@click.group(cls=JsonAnywhere)
@click.option("--intake-url", envvar="MAILINTAKE_INTAKE_URL", default="http://127.0.0.1:8001", show_default=True)
@click.option(
    "--quarantine-url", envvar="MAILINTAKE_QUARANTINE_URL", default="http://127.0.0.1:8002", show_default=True
)
@click.option(
    "--classifier-url", envvar="MAILINTAKE_CLASSIFIER_URL", default="http://127.0.0.1:8003", show_default=True
)
@click.option("--routing-url", envvar="MAILINTAKE_ROUTING_URL", default="http://127.0.0.1:8004", show_default=True)
@click.option("--key", envvar="MAILINTAKE_API_KEY", help="API key (default: .data/admin-key from `make run`)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def cli(
    ctx: click.Context,
    intake_url: str,
    quarantine_url: str,
    classifier_url: str,
    routing_url: str,
    key: str | None,
    as_json: bool,
) -> None:
    """Operate a running mail-intake."""
    urls = {"intake": intake_url, "quarantine": quarantine_url, "classifier": classifier_url, "routing": routing_url}
    ctx.obj = Context(urls, key or default_key(), as_json)


@cli.command()
@click.argument("kind", type=click.Choice(["email", "scan", "webform"]))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--mailbox", type=click.Choice(["edc", "webmaster", "secure"]), default="edc", show_default=True)
@click.pass_obj
def submit(obj: Context, kind: str, files: tuple[Path, ...], mailbox: str) -> None:
    """Post FILES to intake, one document each (.eml emails, scan images/PDFs, web-form JSON)."""
    outcomes: list[Outcome] = []
    with Progress(console=err_console, transient=True, disable=len(files) < 2) as progress:
        task = progress.add_task(f"submitting {len(files)} {kind} file(s)", total=len(files))
        for path in files:
            outcomes.append(submit_one(obj.intake, kind, path, mailbox))
            progress.advance(task)
    unreachable = [o for o in outcomes if o.error and o.error.startswith("cannot reach")]
    if obj.as_json:
        obj.emit([o.as_dict() for o in outcomes])
    else:
        for o in outcomes:
            if o.ok:
                note = "accepted" if o.status_code == 202 else "already received"
                console.print(f"[green]{note}[/] {o.file} -> {o.document_id}")
            else:
                console.print(f"[red]failed[/] {o.file}: {o.error}")
        accepted = sum(o.ok for o in outcomes)
        console.print(f"{accepted} of {len(outcomes)} accepted")
    if unreachable and len(unreachable) == len(outcomes):
        sys.exit(3)
    if not all(o.ok for o in outcomes):
        sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("document_id")
@click.pass_obj
def status(obj: Context, document_id: str) -> None:
    """Show a document's status, results and timeline."""
    doc = obj.intake.json("GET", f"/v1/documents/{document_id}")
    if obj.as_json:
        obj.emit(doc)
        return
    console.print(f"[bold]{doc['document_id']}[/]  {doc['channel']}  status [bold]{doc['status']}[/]")
    routing = doc.get("routing") or {}
    if routing:
        console.print(f"queue {routing.get('queue')}  priority {routing.get('priority')}  due {routing.get('due_by')}")
    table = Table("at", "stage", "outcome", "reasons")
    for step in doc["timeline"]:
        table.add_row(step["at"], step["stage"], step["outcome"], "; ".join(step["reasons"]))
    console.print(table)


@cli.command()
@click.pass_obj
def queues(obj: Context) -> None:
    """Queue depths, oldest items, priority and overdue counts."""
    rows = obj.routing.json("GET", "/v1/queues")
    if obj.as_json:
        obj.emit(rows)
        return
    table = Table("queue", "depth", "oldest", "priority", "overdue")
    for row in rows:
        table.add_row(
            row["queue"],
            str(row["depth"]),
            str(row.get("oldest_at") or "-"),
            str(row.get("priority_depth", 0)),
            str(row.get("overdue", 0)),
        )
    console.print(table)


ALERT_STATUSES = ("open", "acknowledged", "closed")
ALERT_OUTCOMES = ("referred", "welfare_check", "no_action", "other")


@cli.group(invoke_without_command=True)
@click.option("--status", "alert_status", type=click.Choice(ALERT_STATUSES), default="open", show_default=True)
@click.pass_context
def alerts(ctx: click.Context, alert_status: str) -> None:
    """Alerts (at risk, could not be checked): list them, or `ack` / `close` one."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    rows = obj.routing.json("GET", "/v1/alerts", params={"status": alert_status})
    items = rows.get("items", rows) if isinstance(rows, dict) else rows
    if obj.as_json:
        obj.emit(rows)
        return
    table = Table()
    for column in ("alert", "document", "raised", "categories", "status", "outcome"):
        table.add_column(column, overflow="fold")  # ids wrap rather than lose characters
    for row in items:
        table.add_row(
            str(row.get("alert_id", "")),
            str(row.get("document_id")),
            str(row.get("raised_at", "")),
            ", ".join(row.get("categories", [])),
            str(row.get("status", "")),
            str(row.get("outcome") or ""),
        )
    console.print(table)


def _work_alert(obj: Context, alert_id: str, action: str, body: dict[str, Any]) -> None:
    done = obj.routing.json("POST", f"/v1/alerts/{alert_id}/{action}", json=body)
    if obj.as_json:
        obj.emit(done)
        return
    outcome = f" ({done['outcome']})" if done.get("outcome") else ""
    console.print(f"alert {done['alert_id']} {done['status']}{outcome}; document {done['document_id']}")


@alerts.command("ack")
@click.argument("alert_id")
@click.option("--outcome", type=click.Choice(ALERT_OUTCOMES), help="optional when acknowledging")
@click.option("--note", default="", help="stored on the alert, never logged")
@click.pass_obj
def alerts_ack(obj: Context, alert_id: str, outcome: str | None, note: str) -> None:
    """Acknowledge an open alert (needs an ops:write key)."""
    _work_alert(obj, alert_id, "acknowledge", {"note": note, **({"outcome": outcome} if outcome else {})})


@alerts.command("close")
@click.argument("alert_id")
@click.option("--outcome", type=click.Choice(ALERT_OUTCOMES), required=True)
@click.option("--note", default="", help="stored on the alert, never logged")
@click.pass_obj
def alerts_close(obj: Context, alert_id: str, outcome: str, note: str) -> None:
    """Close an alert with its outcome (an open one is acknowledged at the same time)."""
    _work_alert(obj, alert_id, "close", {"outcome": outcome, "note": note})


@cli.command()
@click.argument("queue")
@click.option("-n", "--lines", "last", type=int, default=20, show_default=True, help="newest events shown (max 500)")
@click.option("-f", "--follow", is_flag=True, help="keep printing events as they are published (Ctrl-C stops)")
@click.option("--from-beginning", is_flag=True, help="print every event still kept first, oldest first")
@click.option("--max-messages", type=int, default=0, help="stop after this many (0: no limit)")
@click.option("--timeout", "timeout_s", type=float, default=0, help="stop following after this many seconds (0: never)")
@click.option("--interval", "interval_s", type=float, default=2.0, show_default=True, help="seconds between polls")
@json_after
@click.pass_obj
def tail(
    obj: Context,
    queue: str,
    last: int,
    follow: bool,
    from_beginning: bool,
    max_messages: int,
    timeout_s: float,
    interval_s: float,
    as_json: bool,
) -> None:
    """A queue's events (routing's decisions, ids only) through the routing service's API, with
    your key's RACS level; --json prints one JSON object a line."""
    from mailintake_cli.follow import run_tail

    with contextlib.suppress(KeyboardInterrupt):
        run_tail(
            obj.routing,
            quote(queue, safe=""),
            last=last,
            follow=follow,
            from_beginning=from_beginning,
            max_messages=max_messages,
            timeout_s=timeout_s,
            interval_s=max(0.2, interval_s),
            as_json=obj.as_json or as_json,
        )


@cli.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="intake:write, ops:read, admin, racs:1..3 (repeat for several)",
)
@click.pass_obj
def keys_create(obj: Context, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key (shown once)."""
    created = obj.intake.json("POST", "/v1/admin/api-keys", json={"name": name, "scopes": list(scopes)})
    if obj.as_json:
        obj.emit(created)
    else:
        console.print(f"key for {created['name']} ({', '.join(created['scopes'])}):")
        click.echo(created["key"])


@keys.command("list")
@click.option("--revoked", is_flag=True, help="also show revoked keys, with when and by whom")
@json_after
@click.pass_obj
def keys_list(obj: Context, revoked: bool, as_json: bool) -> None:
    """List API keys: name, scopes, created and last-used times (needs an admin key)."""
    rows = obj.intake.json("GET", "/v1/admin/api-keys", params={"include_revoked": str(revoked).lower()})
    if obj.as_json or as_json:
        obj.emit(rows)
        return
    table = Table()
    for column in ("name", "scopes", "created", "by", "last used", *(("revoked", "by") if revoked else ())):
        table.add_column(column, overflow="fold")  # names and times wrap rather than lose characters
    for row in rows:
        cells = [row["name"], " ".join(row["scopes"]), row["created_at"], row.get("created_by") or "-"]
        cells.append(row.get("last_used_at") or "never")
        if revoked:
            cells += [row.get("revoked_at") or "-", row.get("revoked_by") or "-"]
        table.add_row(*cells)
    console.print(table)


@keys.command("revoke")
@click.argument("name")
@json_after
@click.pass_obj
def keys_revoke(obj: Context, name: str, as_json: bool) -> None:
    """Revoke every active key called NAME; every service refuses it within seconds."""
    done = obj.intake.json("DELETE", f"/v1/admin/api-keys/{quote(name, safe='')}")
    if obj.as_json or as_json:
        obj.emit(done)
        return
    console.print(f"revoked {done['revoked']} key(s) called {done['name']}")


@cli.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path(".data/demo"), show_default=True)
@click.pass_obj
def demo(obj: Context, directory: Path) -> None:
    """Generate a varied sample, load its directory into routing, and post it all."""
    from mailintake_cli.demo import write_demo

    written = write_demo(directory)
    say = (lambda _: None) if obj.as_json else console.print
    say(f"demo files in {directory}")
    loaded: dict[str, str] = {}
    for kind, endpoint in (("customers", "/v1/directory/customers"), ("organisations", "/v1/directory/organisations")):
        body = json.loads((directory / f"{kind}.json").read_text())
        try:
            response = obj.routing.request("PUT", endpoint, json=body)
            loaded[kind] = "loaded" if response.status_code < 300 else f"not loaded ({describe_error(response)})"
        except CliError as exc:
            loaded[kind] = f"not loaded ({exc})"
        say(f"directory {kind}: {loaded[kind]}")
    posted: list[dict[str, Any]] = []
    for kind, files in written.items():
        for o in (submit_one(obj.intake, kind, path, "edc") for path in files):
            posted.append({"kind": kind, **o.as_dict()})
            mark = "[green]accepted[/]" if o.ok else f"[red]failed[/] {o.error}"
            say(f"{kind:8} {Path(o.file).name:24} {mark} {o.document_id or ''}")
    dashboard = f"{obj.routing.base_url}/dashboard"
    if obj.as_json:
        obj.emit({"directory": str(directory), "loaded": loaded, "posted": posted, "dashboard": dashboard})
        return
    console.print(f"\nDashboard:  {dashboard}")
    console.print("Queues:     mailintake queues")
    first = next((p["document_id"] for p in posted if p.get("document_id")), None)
    if first:
        console.print(f"A timeline: mailintake status {first}   ({obj.intake.base_url}/v1/documents/{first})")


register(cli)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except CliError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
