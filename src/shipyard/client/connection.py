"""Which control plane a command talks to: the team's server that ``$SHIPYARD_SERVER``
names, this home's running one, or one started now in the background."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shipyard.client.rest import URL_ENV, ServerClient
from shipyard.client.state import (
    DEFAULT_PORT,
    PORT_ENV,
    TOKEN_ENV,
    ServerOptions,
    lock_held,
    read_state,
)
from shipyard.errors import ShipyardError, UnreachableError
from shipyard.home import configured_server


def stop_server(home: Path, timeout: float = 30.0) -> int | None:
    """SIGTERM the home's running server and wait for it; its pid, or None if none ran."""
    state = read_state(home)
    if state is None:
        return None
    from shipyard.process_info import boot_id

    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if boot_id(pid) != state["boot_id"]:  # gone (an unreaped zombie counts as gone)
            return pid
        time.sleep(0.05)
    raise ShipyardError(
        f"the server (pid {pid}) is still stopping after {timeout:.0f} s",
        hint="it finishes the reconcile passes under way first; check again shortly",
    )


def start_detached(home: Path, options: ServerOptions) -> dict[str, Any]:
    """Start ``shipyard server`` in the background; returns its record once it answers."""
    log = home / "logs" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    env.pop(URL_ENV, None)  # the server it starts is this home's, whatever the shell names
    if options.token:
        env[TOKEN_ENV] = options.token  # in the environment, never on a command line
    command = [sys.executable, "-m", "shipyard", "server", "--host", options.host]
    command += ["--port", str(options.port), "--scrape-interval", str(options.scrape_interval)]
    for flag, value in (
        ("--store", options.store),
        ("--artifacts", options.artifacts),
        ("--tls-cert", options.tls_cert),
        ("--tls-key", options.tls_key),
    ):
        if value is not None:
            command += [flag, str(value)]
    with log.open("ab") as out:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None and not lock_held(home):
            from shipyard.process_info import tail

            raise ShipyardError(
                f"the shipyard server did not start (exit code {child.returncode})",
                hint="its log says:\n    " + "\n    ".join(tail(log, 6)),
            )
        state = read_state(home)  # ours, or one another command started at the same moment
        if state is not None:
            try:
                ServerClient(state["url"], state.get("token")).call("GET", "info")
                state["log"] = str(log)
                return state
            except UnreachableError:
                pass
        time.sleep(0.05)
    raise ShipyardError(f"the shipyard server did not answer in 60 s; see {log}")


def connect(home: Path, *, start: bool = True) -> ServerClient:
    """The control plane for a command: the team server ``$SHIPYARD_SERVER`` names, else
    this home's running server, else one started now in the background (``start``)."""
    team = configured_server()
    if team is not None:
        return ServerClient(*team)
    token = os.environ.get(TOKEN_ENV)
    state = read_state(home)
    if state is not None:
        return ServerClient(state["url"], state.get("token") or token)
    if not start:
        raise ShipyardError(
            f"no shipyard server runs for {home}",
            hint="start one with `shipyard server --detach`",
        )
    port = int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
    try:
        state = start_detached(home, ServerOptions(port=port, token=token))
    except OSError as err:
        raise ShipyardError(f"cannot start a shipyard server: {err}") from None
    print(
        f"started shipyard server (pid {state['pid']}) on {state['url']}; log: {state['log']}",
        file=sys.stderr,
    )
    return ServerClient(state["url"], state.get("token") or token)
