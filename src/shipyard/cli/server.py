"""``shipyard server``: run the control plane (REST API, controllers, local target)."""

from __future__ import annotations

import sys

import typer

from shipyard.cli.common import console, home
from shipyard.server.process import DEFAULT_PORT, PORT_ENV, TOKEN_ENV


def server_cmd(
    host: str = typer.Option("127.0.0.1", help="Address of the REST API (loopback by default)."),
    port: int = typer.Option(DEFAULT_PORT, min=1, max=65535, envvar=PORT_ENV, help="Its port."),
    token: str | None = typer.Option(
        None, envvar=TOKEN_ENV, help="Bearer token the API requires (needed off loopback)."
    ),
    detach: bool = typer.Option(False, "--detach", "-d", help="Run in the background."),
    scrape_interval: float = typer.Option(
        5.0, min=0.1, help="Seconds between scrapes of each deployment's /metrics."
    ),
    stop: bool = typer.Option(
        False, "--stop", help="Stop this home's running server (deployments keep serving)."
    ),
) -> None:
    """The control plane: desired state in the store, reconciled into running servers.

    Stopping it never stops a deployment; the next server adopts the running ones.
    """
    from shipyard.server import process

    if stop:
        stopped = process.stop_server(home())
        console.print(
            f"stopped the server (pid {stopped}); deployments keep serving"
            if stopped
            else "no server runs for this home"
        )
        return
    if detach:
        running = process.read_state(home())
        if running is not None:
            console.print(f"already running: pid {running['pid']} on {running['url']}")
            return
        state = process.start_detached(home(), host, port, token)
        console.print(f"shipyard server started: pid {state['pid']} on {state['url']}")
        console.print(f"log: {state['log']}")
        return

    def ready(url: str) -> None:
        console.print(f"shipyard server on {url} (home {home()}); API docs at {url}/docs")
        sys.stdout.flush()

    process.serve(home(), host, port, token, ready, scrape_interval)
