"""``shipyard alias``: point, roll back and audit aliases."""

from __future__ import annotations

import typer

from shipyard.cli.common import JSON_OPTION, console, new_table, print_json, stores, when
from shipyard.refs import check_alias_name, check_model_name, parse_version
from shipyard.registry.aliases import delete_alias, rollback_alias, set_alias
from shipyard.store import AliasMove

app = typer.Typer(help="Aliases: named, audited pointers to versions.", no_args_is_help=True)

REASON = typer.Option("", "--reason", "-r", help="Why; recorded in the history and the event.")
MODEL = typer.Argument(..., help="Model name.")


def _report(move: AliasMove | None, model: str, alias: str, as_json: bool) -> None:
    if as_json:
        print_json(move)
    elif move is None:
        console.print(f"{model}@{alias} already points there: nothing changed")
    else:
        before = "unset" if move.from_version is None else f"v{move.from_version}"
        after = "unset" if move.to_version is None else f"v{move.to_version}"
        console.print(f"{model}@{alias}: {before} → [bold]{after}[/] ({move.action})")


@app.command("set")
def set_cmd(
    model: str = MODEL,
    alias: str = typer.Argument(..., help="Alias, e.g. production."),
    version: str = typer.Argument(..., help="Version number."),
    reason: str = REASON,
    as_json: bool = JSON_OPTION,
) -> None:
    """Point an alias at a version."""
    check_model_name(model)
    number = parse_version(version)
    with stores() as opened:
        move = set_alias(opened, model, alias, number, reason=reason)
    _report(move, model, alias, as_json)


@app.command("rollback")
def rollback_cmd(
    model: str = MODEL,
    alias: str = typer.Argument(..., help="Alias to move back."),
    reason: str = REASON,
    as_json: bool = JSON_OPTION,
) -> None:
    """Move an alias back to the version it held before (repeat to go further back)."""
    check_model_name(model)
    with stores() as opened:
        move = rollback_alias(opened, model, alias, reason=reason)
    _report(move, model, alias, as_json)


@app.command("delete")
def delete_cmd(
    model: str = MODEL,
    alias: str = typer.Argument(..., help="Alias to remove (its history is kept)."),
    reason: str = REASON,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove an alias."""
    check_model_name(model)
    with stores() as opened:
        move = delete_alias(opened, model, alias, reason=reason)
    _report(move, model, alias, as_json)


@app.command("history")
def history_cmd(
    model: str = MODEL,
    alias: str | None = typer.Argument(None, help="One alias (default: all of the model's)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every move of an alias: when, from, to, who and why."""
    check_model_name(model)
    if alias is not None:
        check_alias_name(alias)
    with stores() as opened:
        moves = opened.metadata.alias_history(model, alias)
    if as_json:
        print_json(moves)
        return
    if not moves:
        console.print(f"no alias moves recorded for {model}" + (f"@{alias}" if alias else ""))
        return
    table = new_table("when", "alias", "action", "from", "to", "who", "why")
    for m in moves:
        table.add_row(
            when(m.at),
            m.alias,
            m.action,
            "-" if m.from_version is None else f"v{m.from_version}",
            "-" if m.to_version is None else f"v{m.to_version}",
            m.actor,
            m.reason or "-",
        )
    console.print(table)
