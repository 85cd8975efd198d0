"""A team's Shipyard for the tests: one ``shipyard server`` with named tokens, and agents
(laptops, CI jobs) that reach it with nothing but its URL and a token."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from test_serving import SHIPYARD, free_port

BOOTSTRAP = "bootstrap-admin-token-for-tests"


@dataclass
class TeamServer:
    """``shipyard server`` on loopback, on its own home and the stores it is given."""

    home: Path
    port: int = field(default_factory=free_port)
    store: str | None = None
    artifacts: str | None = None
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        command = [SHIPYARD, "server", "--port", str(self.port), *self.extra]
        if self.store:
            command += ["--store", self.store]
        if self.artifacts:
            command += ["--artifacts", self.artifacts]
        env = {**os.environ, "SHIPYARD_HOME": str(self.home), "SHIPYARD_SERVER_TOKEN": BOOTSTRAP}
        env.pop("SHIPYARD_SERVER", None)
        log = (self.home / "server-test.log").open("ab")
        self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log()}")
            try:
                if call(self.port, "GET", "/api/v1/info", token=BOOTSTRAP)[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"server did not start: {self.log()}")

    def log(self) -> str:
        return (self.home / "server-test.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def token(self, name: str, scopes: str) -> str:
        """A named token made through the API, as an admin would."""
        status, made = call(
            self.port,
            "POST",
            "/api/v1/tokens",
            json.dumps({"name": name, "scopes": scopes.split(",")}).encode(),
            token=BOOTSTRAP,
        )
        assert status == 201, made
        return str(made["token"])

    def events(self) -> list[dict[str, Any]]:
        status, events = call(self.port, "GET", "/api/v1/events?limit=100000", token=BOOTSTRAP)
        assert status == 200
        return list(events)


@dataclass
class Agent:
    """A laptop or CI agent: its own home and work tree, the server's URL and a token."""

    home: Path
    server: TeamServer
    token: str

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "SHIPYARD_HOME": str(self.home),
            "SHIPYARD_SERVER": self.server.url,
            "SHIPYARD_TOKEN": self.token,
            "COLUMNS": "200",
        }
        env.pop("SHIPYARD_SERVER_TOKEN", None)
        return env

    def cli(
        self, *args: str, cwd: Path | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SHIPYARD, *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def call(
    port: int, method: str, path: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, Any]:
    """One request to the server; JSON answers decoded."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    return response.status, json.loads(raw) if raw.startswith((b"{", b"[")) else raw
