"""The ``shipyard`` command: wiring of sub-commands and error handling.

A ``ShipyardError`` is printed as ``error: …`` (plus a hint) with its exit
code, never a traceback; ``--debug`` shows the traceback too.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup
from typer.models import CommandInfo

from shipyard import __version__
from shipyard.errors import ShipyardError
from shipyard.home import HOME_ENV
from shipyard.home import SERVER_ENV as URL_ENV

# Every sub-command, in the order `--help` lists them, and where it lives: a function is
# one command, a Typer a group of them. A command's module is imported when it is named,
# so `shipyard --version` loads none of them and `shipyard models list` only its own.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("shipyard.cli.project", "init"),
    "register": ("shipyard.cli.project", "register_cmd"),
    "models": ("shipyard.cli.models", "app"),
    "alias": ("shipyard.cli.alias", "app"),
    "run": ("shipyard.cli.run", "run_cmd"),
    "runs": ("shipyard.cli.run", "runs_app"),
    "hooks": ("shipyard.cli.hooks", "app"),
    "ci": ("shipyard.cli.ci", "app"),
    "serve": ("shipyard.cli.serve", "serve_cmd"),
    "server": ("shipyard.cli.server", "server_cmd"),
    "ui": ("shipyard.cli.ui", "ui_cmd"),
    "deploy": ("shipyard.cli.deploy", "deploy_cmd"),
    "status": ("shipyard.cli.deploy", "status_cmd"),
    "promote": ("shipyard.cli.deploy", "promote_cmd"),
    "abort": ("shipyard.cli.deploy", "abort_cmd"),
    "rollback": ("shipyard.cli.deploy", "rollback_cmd"),
    "traffic": ("shipyard.cli.deploy", "traffic_cmd"),
    "undeploy": ("shipyard.cli.deploy", "undeploy_cmd"),
    "events": ("shipyard.cli.events", "events_cmd"),
    "metrics": ("shipyard.cli.metrics", "metrics_cmd"),
    "alerts": ("shipyard.cli.alerts", "app"),
    "tokens": ("shipyard.cli.tokens", "app"),
    "store": ("shipyard.cli.store", "app"),
    "info": ("shipyard.cli.info", "info_cmd"),
    "spec": ("shipyard.cli.spec", "app"),
    "export": ("shipyard.cli.export", "app"),
    "image": ("shipyard.cli.image", "app"),
}


class _LazyGroup(TyperGroup):
    """The root command: its sub-commands are built from ``COMMANDS`` when asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            command: Any = typer.main.get_group(target)
        else:
            command = typer.main.get_command_from_info(
                CommandInfo(name=cmd_name, callback=target),
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
            )
        command.name = cmd_name
        return command


app = typer.Typer(
    name="shipyard",
    cls=_LazyGroup,
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
    from shipyard.cli.common import SETTINGS

    SETTINGS.home = home
    SETTINGS.debug = debug
    if server:  # in the environment, so the processes a command starts talk to it too
        os.environ[URL_ENV] = server


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
    except (ShipyardError, OSError, KeyboardInterrupt) as err:
        from shipyard.cli.common import SETTINGS, err_console  # rich: only to print

        if isinstance(err, KeyboardInterrupt):
            err_console.print("interrupted")
            sys.exit(130)
        if SETTINGS.debug:
            traceback.print_exc()
        if isinstance(err, ShipyardError):
            err_console.print(f"[red]error:[/] {err.message}", soft_wrap=True)
            if err.hint:
                err_console.print(f"  hint: {err.hint}", soft_wrap=True)
            sys.exit(err.exit_code)
        # the file system said no: a path, a permission, a full disk
        where = f": {err.filename}" if err.filename else ""
        err_console.print(f"[red]error:[/] {err.strerror or err}{where}", soft_wrap=True)
        sys.exit(1)
