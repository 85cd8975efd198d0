"""The CLI's client of the control plane's REST API (standard library only).

``connect`` finds the server of the current Shipyard home (``HOME/run/server.json``),
or the one ``$SHIPYARD_SERVER`` names, and starts one in the background when
none runs, so ``shipyard deploy`` works without a separate first step.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shipyard.errors import ShipyardError
from shipyard.lineage import current_actor

URL_ENV = "SHIPYARD_SERVER"


class RemoteError(ShipyardError):
    """An error the server reported; same message, hint and exit code as a local one."""

    def __init__(self, message: str, *, hint: str | None, exit_code: int) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class ServerClient:
    """Calls ``/api/v1`` of one control plane."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 600.0) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; a refusal is raised as the server's error."""
        headers = {"content-type": "application/json", "x-shipyard-actor": current_actor()}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(
                method,
                f"/api/v1/{path}",
                body=None if body is None else json.dumps(body),
                headers=headers,
            )
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if response.status >= 400:
            error = data if isinstance(data, dict) else {}
            raise RemoteError(
                error.get("error") or f"the server answered HTTP {response.status}",
                hint=error.get("hint"),
                exit_code=int(error.get("exit_code") or 1),
            )
        return data

    def follow(
        self,
        name: str,
        rollout_id: int,
        on_change: Callable[[dict[str, Any]], None],
        *,
        until_loaded: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll a rollout until it finishes or pauses (``until_loaded``: until its new
        version is loaded), calling ``on_change`` at each new state, step or analysis;
        returns the last status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[Any, ...] = ()
        while deadline is None or time.monotonic() < deadline:
            status: dict[str, Any] = self.call("GET", f"deployments/{name}")
            r = status["rollout"]
            if r is None or r["id"] != rollout_id:
                return status
            now = (r["state"], r["step"], bool(r["analysis"]))
            if now != seen:
                on_change(status)
                seen = now
            if not r["active"] or r["state"] == "paused":
                return status
            if until_loaded and r["state"] != "loading":
                return status
            time.sleep(0.1)
        raise ShipyardError(f"rollout {rollout_id} of {name} did not finish in {timeout:.0f} s")


def connect(home: Path, *, start: bool = True) -> ServerClient:
    """The control plane for ``home``: named by ``$SHIPYARD_SERVER``, running, or started now."""
    from shipyard.server.process import DEFAULT_PORT, PORT_ENV, TOKEN_ENV, read_state

    token = os.environ.get(TOKEN_ENV)
    if os.environ.get(URL_ENV):
        return ServerClient(os.environ[URL_ENV], token)
    state = read_state(home)
    if state is not None:
        return ServerClient(state["url"], state.get("token") or token)
    if not start:
        raise ShipyardError(
            f"no shipyard server runs for {home}",
            hint="start one with `shipyard server --detach`",
        )
    from shipyard.server.process import start_detached

    port = int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
    try:
        state = start_detached(home, "127.0.0.1", port, token)
    except OSError as err:
        raise ShipyardError(f"cannot start a shipyard server: {err}") from None
    print(
        f"started shipyard server (pid {state['pid']}) on {state['url']}; log: {state['log']}",
        file=sys.stderr,
    )
    return ServerClient(state["url"], state.get("token") or token)
