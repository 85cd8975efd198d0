"""``shipyard server``: run the control plane (REST API, controllers, targets, alerting)."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import console, home
from shipyard.client.state import DEFAULT_PORT, PORT_ENV, TOKEN_ENV
from shipyard.home import ARTIFACTS_ENV, STORE_ENV


def server_cmd(
    host: str = typer.Option(
        "127.0.0.1", help="Address of the REST API (loopback by default; 0.0.0.0 for a team)."
    ),
    port: int = typer.Option(DEFAULT_PORT, min=1, max=65535, envvar=PORT_ENV, help="Its port."),
    token: str | None = typer.Option(
        None,
        envvar=TOKEN_ENV,
        help="Bootstrap admin token (generated when not given; needed off loopback unless "
        "named tokens exist).",
    ),
    store: str | None = typer.Option(
        None,
        envvar=STORE_ENV,
        help="Metadata store: postgresql://USER@HOST:PORT/DB for a team.",
        show_default="$SHIPYARD_HOME/registry.db",
    ),
    artifacts: str | None = typer.Option(
        None,
        envvar=ARTIFACTS_ENV,
        help="Artifact store: a directory, or s3://BUCKET/PREFIX (credentials and endpoint "
        "from the AWS_* environment).",
        show_default="$SHIPYARD_HOME/artifacts",
    ),
    tls_cert: Path | None = typer.Option(None, help="PEM certificate: serve HTTPS."),
    tls_key: Path | None = typer.Option(None, help="PEM private key of --tls-cert."),
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
    from shipyard.client import connection
    from shipyard.client.state import ServerOptions, read_state
    from shipyard.controlplane import process

    if stop:
        stopped = connection.stop_server(home())
        console.print(
            f"stopped the server (pid {stopped}); deployments keep serving"
            if stopped
            else "no server runs for this home"
        )
        return
    options = ServerOptions(
        host=host,
        port=port,
        token=token,
        store=store,
        artifacts=artifacts,
        tls_cert=tls_cert.resolve() if tls_cert else None,
        tls_key=tls_key.resolve() if tls_key else None,
        scrape_interval=scrape_interval,
    )
    if detach:
        running = read_state(home())
        if running is not None:
            console.print(f"already running: pid {running['pid']} on {running['url']}")
            return
        state = connection.start_detached(home(), options)
        console.print(f"shipyard server started: pid {state['pid']} on {state['url']}")
        console.print(f"log: {state['log']}")
        return

    def ready(url: str) -> None:
        from shipyard.store.location import shown_location

        where = shown_location(store) if store else f"home {home()}"
        console.print(f"shipyard server on {url} ({where}); API docs at {url}/docs")
        console.print(
            f"UI on {url}/ — sign in with the token in {home() / 'run' / 'server.json'}"
            if not token
            else f"UI on {url}/ — sign in with the server's token (--token) or a named token"
        )

    process.serve(home(), options, ready)
