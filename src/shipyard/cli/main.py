"""The ``shipyard`` command: wiring of sub-commands and error handling.

A ``ShipyardError`` is printed as ``error: …`` (plus a hint) with its exit
code, never a traceback; ``--debug`` shows the traceback too.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import typer

from shipyard import __version__
from shipyard.cli import alerts, alias, ci, export, hooks, image, models, spec, store, tokens
from shipyard.cli.common import SETTINGS, err_console
from shipyard.cli.deploy import (
    abort_cmd,
    deploy_cmd,
    promote_cmd,
    rollback_cmd,
    status_cmd,
    traffic_cmd,
    undeploy_cmd,
)
from shipyard.cli.events import events_cmd
from shipyard.cli.info import info_cmd
from shipyard.cli.metrics import metrics_cmd
from shipyard.cli.project import init, register_cmd
from shipyard.cli.run import run_cmd, runs_app
from shipyard.cli.serve import serve_cmd
from shipyard.cli.server import server_cmd
from shipyard.errors import ShipyardError
from shipyard.home import HOME_ENV
from shipyard.home import SERVER_ENV as URL_ENV

app = typer.Typer(
    name="shipyard",
    help="Train, validate, register, deploy and watch ML models, from a git commit to production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"shipyard {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    home: Path | None = typer.Option(
        None,
        "--home",
        envvar=HOME_ENV,
        help="State directory (registry, artifacts).",
        show_default="~/.shipyard",
    ),
    server: str | None = typer.Option(
        None,
        "--server",
        envvar=URL_ENV,
        help="The team's Shipyard server (http(s)://HOST:PORT): every command works on its "
        "registry, runs and deployments, with the token in $SHIPYARD_TOKEN.",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Shipyard: the model lifecycle from commit to monitored endpoint."""
    SETTINGS.home = home
    SETTINGS.debug = debug
    if server:  # in the environment, so the processes a command starts talk to it too
        os.environ[URL_ENV] = server


app.command("init")(init)
app.command("register")(register_cmd)
app.add_typer(models.app, name="models")
app.add_typer(alias.app, name="alias")
app.command("run")(run_cmd)
app.add_typer(runs_app, name="runs")
app.add_typer(hooks.app, name="hooks")
app.add_typer(ci.app, name="ci")
app.command("serve")(serve_cmd)
app.command("server")(server_cmd)
app.command("deploy")(deploy_cmd)
app.command("status")(status_cmd)
app.command("promote")(promote_cmd)
app.command("abort")(abort_cmd)
app.command("rollback")(rollback_cmd)
app.command("traffic")(traffic_cmd)
app.command("undeploy")(undeploy_cmd)
app.command("events")(events_cmd)
app.command("metrics")(metrics_cmd)
app.add_typer(alerts.app, name="alerts")
app.add_typer(tokens.app, name="tokens")
app.add_typer(store.app, name="store")
app.command("info")(info_cmd)
app.add_typer(spec.app, name="spec")
app.add_typer(export.app, name="export")
app.add_typer(image.app, name="image")


_GLOBAL_WITH_VALUE = ("--home", "--server")
_GLOBAL_FLAGS = ("--debug",)


def _hoist_global_options(argv: list[str]) -> list[str]:
    """Let ``--home DIR`` and ``--debug`` follow the sub-command too (``models list --home X``)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in _GLOBAL_FLAGS or arg.startswith(("--home=", "--server=")):
            front.append(arg)
        elif arg in _GLOBAL_WITH_VALUE and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    """Console entry point."""
    try:
        app(args=_hoist_global_options(sys.argv[1:]), prog_name="shipyard")
    except ShipyardError as err:
        if SETTINGS.debug:
            traceback.print_exc()
        err_console.print(f"[red]error:[/] {err.message}", soft_wrap=True)
        if err.hint:
            err_console.print(f"  hint: {err.hint}", soft_wrap=True)
        sys.exit(err.exit_code)
    except OSError as err:  # the file system said no: a path, a permission, a full disk
        if SETTINGS.debug:
            traceback.print_exc()
        where = f": {err.filename}" if err.filename else ""
        err_console.print(f"[red]error:[/] {err.strerror or err}{where}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
