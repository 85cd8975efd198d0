"""``shipyard alerts``: the rules watching deployments, their history, and a test alert.

The rules come from the project's ``monitor:`` section; they are attached to a
deployment when the project deploys it, or by ``shipyard alerts apply``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shipyard.cli.common import JSON_OPTION, console, err_console, home, new_table, print_json
from shipyard.errors import InvalidInputError
from shipyard.units import format_duration

if TYPE_CHECKING:
    from shipyard.client.rest import ServerClient

app = typer.Typer(
    help="Alert rules: where they stand, what happened, a test.", no_args_is_help=True
)
STATE_STYLE = {"firing": "bold red", "pending": "yellow", "inactive": "green"}


def _client() -> ServerClient:
    from shipyard.client.connection import connect  # the HTTP client: only when called

    return connect(home())


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


@app.command("list")
def list_cmd(
    deployment: str | None = typer.Option(None, "--deployment", "-d", help="Only this one."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every rule of every watched deployment: its condition, state, value and actions."""
    query = f"?deployment={deployment}" if deployment else ""
    rules: list[dict[str, Any]] = _client().call("GET", f"alerts{query}")
    if as_json:
        print_json(rules)
        return
    if not rules:
        console.print(
            "no alert rules watch any deployment: add `monitor: {alerts: [...]}` to "
            "shipyard.yaml, then deploy or run `shipyard alerts apply`"
        )
        return
    table = new_table("deployment", "rule", "when", "for", "state", "value", "actions")
    for r in rules:
        state = r["state"]
        since = f" {format_duration(time.time() - r['since'])}" if r.get("since") else ""
        table.add_row(
            r["deployment"],
            r["rule"],
            r["when"],
            format_duration(r.get("for") or 0),
            f"[{STATE_STYLE.get(state, '')}]{state}[/]{since}",
            _value(r.get("value")),
            ", ".join(r["actions"]),
        )
    console.print(table)


def describe(event: dict[str, Any]) -> str:
    """One line of an alert event."""
    kind = event["kind"].removeprefix("alert.")
    rule = str(event.get("rule", ""))
    if kind in ("pending", "firing", "resolved"):
        return f"{rule} {kind} ({event.get('when')}, value {_value(event.get('value'))})"
    if kind == "notified":
        return f"{rule} {event.get('status')} sent to {event.get('channel')}"
    if kind == "notify_failed":
        return (
            f"{rule} {event.get('status')} NOT delivered to {event.get('channel')} after "
            f"{event.get('attempts')} attempt(s): {event.get('error')}"
        )
    if kind == "action":
        if event.get("action") == "rollback":
            return f"{rule}: rolled back v{event.get('from_version')} → v{event.get('to_version')}"
        return f"{rule}: {event.get('action')} started (log {event.get('log')})"
    if kind in ("action_skipped", "action_failed"):
        why = event.get("why") or event.get("error")
        return f"{rule}: {event.get('action')} {kind.removeprefix('action_')}: {why}"
    if kind == "test":
        return f"{rule}: test alert sent to {event.get('channels')} channel(s)"
    return rule


@app.command("history")
def history_cmd(
    deployment: str | None = typer.Option(None, "--deployment", "-d", help="Only this one."),
    limit: int = typer.Option(50, min=1, max=100_000, help="The newest N events."),
    as_json: bool = JSON_OPTION,
) -> None:
    """What alerts did: pending, firing, resolved, notifications (and failed ones), actions."""
    query = f"?limit={limit}" + (f"&deployment={deployment}" if deployment else "")
    events: list[dict[str, Any]] = _client().call("GET", f"alerts/history{query}")
    if as_json:
        print_json(events)
        return
    table = new_table("id", "at", "deployment", "event", "what")
    for e in events:
        table.add_row(str(e["id"]), e["at"][:19], e.get("deployment", ""), e["kind"], describe(e))
    console.print(table if events else "no alert events yet")


@app.command("test")
def test_cmd(
    rule: str = typer.Argument(..., help="The rule's name, e.g. HighErrorRate."),
    deployment: str | None = typer.Option(
        None, "--deployment", "-d", help="Which deployment's rule, when several have it."
    ),
    wait: float = typer.Option(30.0, min=0, help="Seconds to wait for every channel's answer."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fire a synthetic alert end to end: through every channel, without running actions."""
    client = _client()
    before = client.call("GET", "alerts/history?limit=1")
    after = before[-1]["id"] if before else 0
    sent = client.call("POST", f"alerts/{rule}/test", {"deployment": deployment})
    outcomes: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while len(outcomes) < len(sent["channels"]) and time.monotonic() < deadline:
        time.sleep(0.2)
        events = client.call("GET", f"alerts/history?after={after}&deployment={sent['deployment']}")
        outcomes = [
            e
            for e in events
            if e["kind"] in ("alert.notified", "alert.notify_failed") and e.get("status") == "test"
        ]
    if as_json:
        print_json({**sent, "outcomes": outcomes})
    else:
        for e in outcomes:
            mark = "[green]✓[/]" if e["kind"] == "alert.notified" else "[red]✗[/]"
            console.print(f"{mark} {describe(e)}")
        for _ in range(len(sent["channels"]) - len(outcomes)):
            console.print(
                f"[yellow]…[/] no answer yet after {wait:g} s (see `shipyard alerts history`)"
            )
    if len(outcomes) < len(sent["channels"]) or any(
        e["kind"] == "alert.notify_failed" for e in outcomes
    ):
        raise typer.Exit(1)


@app.command("apply")
def apply_cmd(
    deployment: str | None = typer.Argument(
        None, help="The deployment to watch (default: the project's model's name)."
    ),
) -> None:
    """Attach the project's `monitor:` section to its deployment (no redeploy needed)."""
    from shipyard.project import load_project
    from shipyard.spec.monitor_config import attach_call, monitor_section

    project = load_project(Path.cwd())
    spec = project.spec.monitor
    if spec is None:
        raise InvalidInputError(
            f"{project.root / 'shipyard.yaml'} has no `monitor:` section",
            hint="add `monitor: {alerts: [{name: HighErrorRate, when: error_rate > 0.02}]}`",
        )
    name = deployment or project.spec.model.name
    result = _client().call(*attach_call(name, monitor_section(spec), project.root))
    console.print(
        f"{name}: watched by {len(result['rules'])} rule(s): {', '.join(result['rules'])}"
    )
    for warning in result.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {warning}")
