"""``shipyard events``: the append-only audit log."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer

from shipyard import jsonio
from shipyard.cli.common import (
    JSON_OPTION,
    console,
    describe_split,
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
    if event.kind.startswith(("deployment.", "rollout.", "deploy.")):
        return _deployment_change(data)
    if event.kind == "model.version.registered":
        parts = [f"content {short(data.get('content_digest'))}"]
        if data.get("git_commit"):
            parts.append(f"git {str(data['git_commit'])[:8]}")
        if data.get("metrics"):
            parts.append(format_metrics(data["metrics"]))
        return ", ".join(parts)
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in data.items() if v not in (None, "", {}))


def _split(state: dict[str, Any]) -> str:
    return describe_split(state.get("weights", {}), state.get("shadow", {}))


def _deployment_change(data: dict[str, Any]) -> str:
    text = f"{data.get('deployment')}: {data.get('reason') or '-'}"
    before, after = data.get("before"), data.get("after")
    if before and after and _split(before) != _split(after):
        text += f" [{_split(before)} → {_split(after)}]"
    elif after and not before:
        text += f" [{_split(after)}]"
    return text


def events_cmd(
    model: str | None = typer.Option(None, "--model", help="Only this model's events."),
    limit: int = typer.Option(50, min=1, max=2**63 - 1, help="Show the newest N events."),
    after: int = typer.Option(0, min=0, max=2**63 - 1, help="Only events with an id above this."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing new events as they happen (Ctrl-C stops)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Who changed what, when and why (oldest first)."""
    with stores() as opened:
        events = opened.metadata.list_events(model=model, after_id=after, limit=limit)
        if not follow:
            _show(events, as_json)
            return
        _show(events, as_json, lines=True)
        last = events[-1].id if events else after
        try:
            while True:
                time.sleep(0.5)
                new = opened.metadata.list_events(model=model, after_id=last)
                if new:
                    _show(new, as_json, lines=True)
                    last = new[-1].id
        except KeyboardInterrupt:
            return


def _show(events: list[Event], as_json: bool, lines: bool = False) -> None:
    """A table, or with ``lines`` one line per event (JSON Lines with ``--json``)."""
    if as_json and lines:
        for e in events:
            sys.stdout.write(jsonio.dumps(e).decode() + "\n")
        sys.stdout.flush()
        return
    if as_json:
        print_json(events)
        return
    if lines:
        for e in events:
            subject = (e.model or "-") + ("" if e.version is None else f" v{e.version}")
            console.print(f"{when(e.at)}  {e.actor}  {e.kind}  {subject}  {summarize(e)}")
        sys.stdout.flush()
        return
    if not events:
        console.print("no events yet")
        return
    table = new_table("id", "when", "who", "kind", "model", "details")
    for e in events:
        subject = (e.model or "-") + ("" if e.version is None else f" v{e.version}")
        table.add_row(str(e.id), when(e.at), e.actor, e.kind, subject, summarize(e))
    console.print(table)
