"""``shipyard ui``: open the web UI in a browser, already signed in."""

from __future__ import annotations

import typer

from shipyard.cli.common import console, home


def ui_cmd(
    open_browser: bool = typer.Option(
        True, "--open/--no-open", help="Open the link in this machine's browser."
    ),
) -> None:
    """Open the web UI of the server this command talks to, signed in with your token: the
    link it opens works once, within a minute (print it with --no-open to use elsewhere)."""
    from shipyard.client.connection import connect

    client = connect(home())
    made = client.call("POST", "ui/links")
    link = f"{client.url}{made['path']}"
    if open_browser:
        import webbrowser

        opened = webbrowser.open(link)
    else:
        opened = False
    console.print(f"UI: {client.url}/")
    if not opened:
        console.print(f"open this link within {made['expires_in']:g} s (it works once):")
    console.print(link, soft_wrap=True, highlight=False)
