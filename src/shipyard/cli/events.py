"""``shipyard events``: the append-only audit log."""

from __future__ import annotations

import json

import typer

from shipyard.cli.common import (
    JSON_OPTION,
    console,
    format_metrics,
    new_table,
    print_json,
    short,
    stores,
    when,
)
from shipyard.store import Event


def _version(number: object) -> str:
    return "unset" if number is None else f"v{number}"


def summarize(event: Event) -> str:
    """One line of the event's details, phrased for its kind."""
    data = event.data
    if event.kind.startswith("alias."):
        why = f" — {data['reason']}" if data.get("reason") else ""
        moved = f"{_version(data.get('from_version'))} → {_version(data.get('to_version'))}"
        return f"{data.get('alias')}: {moved}{why}"
    if event.kind == "run.started":
        commit = str(data.get("git_commit") or "")[:8]
        return f"run {data.get('run')} ({data.get('trigger')})" + (
            f" at {commit}" if commit else ""
        )
    if event.kind == "run.finished":
        error = f": {data['error']}" if data.get("error") else ""
        return f"run {data.get('run')} {data.get('status')}{error}"
    if event.kind == "model.version.registered":
        parts = [f"content {short(data.get('content_digest'))}"]
        if data.get("git_commit"):
            parts.append(f"git {str(data['git_commit'])[:8]}")
        if data.get("metrics"):
            parts.append(format_metrics(data["metrics"]))
        return ", ".join(parts)
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in data.items() if v not in (None, "", {}))


def events_cmd(
    model: str | None = typer.Option(None, "--model", help="Only this model's events."),
    limit: int = typer.Option(50, min=1, max=2**63 - 1, help="Show the newest N events."),
    after: int = typer.Option(0, min=0, max=2**63 - 1, help="Only events with an id above this."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Who changed what, when and why (oldest first)."""
    with stores() as opened:
        events = opened.metadata.list_events(model=model, after_id=after, limit=limit)
    if as_json:
        print_json(events)
        return
    if not events:
        console.print("no events yet")
        return
    table = new_table("id", "when", "who", "kind", "model", "details")
    for e in events:
        subject = (e.model or "-") + ("" if e.version is None else f" v{e.version}")
        table.add_row(str(e.id), when(e.at), e.actor, e.kind, subject, summarize(e))
    console.print(table)
