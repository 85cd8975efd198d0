"""``shipyard tokens``: named API tokens with scopes, for people and CI agents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from shipyard.cli.common import JSON_OPTION, console, err_console, home, new_table, print_json, when

app = typer.Typer(
    help="Named tokens with scopes (read, register, deploy, admin) for the team's server.",
    no_args_is_help=True,
)

STORE = typer.Option(
    None,
    "--store",
    help="Work on this metadata store directly (postgresql://…), as its administrator, "
    "instead of through the server; e.g. to make the first admin token.",
)


def _through(store: str | None, remote: Callable[[Any], Any], local: Callable[[Any], Any]) -> Any:
    """Run on the store itself (``--store``) or through the control plane's API."""
    if store is not None:
        from shipyard.store import open_stores

        opened = open_stores(home(), metadata=store)
        try:
            return local(opened)
        finally:
            opened.close()
    from shipyard.client.connection import connect

    return remote(connect(home()))


@app.command("create")
def create_cmd(
    name: str = typer.Argument(..., help="Who uses it: the actor of its events ('jenkins')."),
    scope: str = typer.Option(
        "read", "--scope", help="Comma-separated: read, register, deploy, admin."
    ),
    store: str | None = STORE,
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a token; it is printed once, and only its salted hash is kept."""
    from shipyard.controlplane import access
    from shipyard.lineage import current_actor

    scopes = access.parse_scopes(scope)
    access.check_token_name(name)

    def local(stores: Any) -> dict[str, Any]:
        record, token = access.create_token(stores, name, scopes, current_actor())
        return {**access.shown_token(record), "token": token}

    made = _through(
        store,
        lambda client: client.call("POST", "tokens", {"name": name, "scopes": list(scopes)}),
        local,
    )
    if as_json:
        print_json(made)
        return
    console.print(f"token [bold]{made['name']}[/] ({', '.join(made['scopes'])}):")
    console.print(made["token"], soft_wrap=True, highlight=False)
    err_console.print(
        "keep it in your CI's secret store (Jenkins credentials, GitHub secrets, GitLab masked "
        "variables): it is not shown again"
    )


@app.command("list")
def list_cmd(store: str | None = STORE, as_json: bool = JSON_OPTION) -> None:
    """Every token: name, scopes, who made it, when it was last used, revoked or not."""
    from shipyard.controlplane import access

    tokens = _through(
        store,
        lambda client: client.call("GET", "tokens"),
        lambda stores: [access.shown_token(r) for r in access.list_tokens(stores)],
    )
    if as_json:
        print_json(tokens)
        return
    if not tokens:
        console.print("no tokens yet: `shipyard tokens create NAME --scope read` makes one")
        return
    table = new_table("name", "scopes", "created", "by", "last used", "revoked")
    for t in tokens:
        table.add_row(
            t["name"],
            ",".join(t["scopes"]),
            when(t["created_at"]),
            t["created_by"],
            when(t["last_used_at"]) if t["last_used_at"] else "never",
            when(t["revoked_at"]) if t["revoked_at"] else "-",
        )
    console.print(table)


@app.command("revoke")
def revoke_cmd(
    name: str = typer.Argument(..., help="The token's name."),
    store: str | None = STORE,
    as_json: bool = JSON_OPTION,
) -> None:
    """Revoke a token: every call made with it from now on is refused (401)."""
    from urllib.parse import quote

    from shipyard.controlplane import access
    from shipyard.lineage import current_actor

    revoked = _through(
        store,
        lambda client: client.call("DELETE", f"tokens/{quote(name, safe='')}"),
        lambda stores: access.shown_token(access.revoke_token(stores, name, current_actor())),
    )
    if as_json:
        print_json(revoked)
        return
    console.print(f"revoked token {revoked['name']} (made {when(revoked['created_at'])})")
