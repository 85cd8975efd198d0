"""Helpers for the deploy tests: a registry of small custom models, a control plane, a load."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.registry import RegisterOptions, register
from shipyard.store import open_stores
from test_serving import SHIPYARD, free_port

# v1, v2, v5 answer their own number; v3 takes 0.1 s a call; v4 cannot be loaded.
ECHO = """
import time

class Echo:
    signature = {{"inputs": [{{"name": "x", "datatype": "FP64", "shape": [-1, 1]}}],
                 "outputs": [{{"name": "y", "datatype": "FP64", "shape": [-1, 1]}}]}}

    def load(self, path):
        {load}

    def predict(self, x):
        {predict}
        return [[{value}] for _ in x]
"""
VERSIONS = {
    1: ("pass", "pass"),
    2: ("pass", "pass"),
    3: ("pass", "time.sleep(0.1)"),
    4: ("raise RuntimeError('weights file missing')", "pass"),
    5: ("pass", "pass"),
}


def echo_home(tmp: Path, gates: dict[int, str] | None = None) -> Path:
    """A home holding model ``echo`` v1 … v5 (see ``VERSIONS``)."""
    home = tmp / "home"
    stores = open_stores(home)
    for number, (load, predict) in VERSIONS.items():
        source = tmp / f"echo-{number}"
        source.mkdir()
        code = ECHO.format(load=load, predict=predict, value=float(number))
        (source / "model.py").write_text(code)
        tags = {"shipyard.gates": gates[number]} if gates and number in gates else {}
        options = RegisterOptions(flavor="custom", entrypoint="model:Echo", tags=tags)
        assert register(stores, source, "echo", options).version.version == number
    stores.close()
    return home


def register_identity(plane: ControlPlane, tmp: Path, name: str, *extra: str) -> None:
    """Register, through the CLI, a custom model ``name`` answering its inputs, with
    ``extra`` options (tags, a description, params)."""
    source = tmp / f"{name}-source"
    source.mkdir()
    (source / "model.py").write_text("class M:\n    def load(self, path): pass\n"
                                     "    def predict(self, x): return x\n")  # fmt: skip
    done = plane.cli("register", str(source), "--name", name, "--flavor", "custom",
                     "--entrypoint", "model:M", *extra)  # fmt: skip
    assert done.returncode == 0, done.stderr


def register_echo(home: Path, tmp: Path, value: float, load: str, predict: str = "pass") -> int:
    """One more ``echo`` version answering ``value``, whose ``load`` runs ``load`` (and whose
    ``predict`` runs ``predict`` first)."""
    source = tmp / f"echo-extra-{value}"
    source.mkdir()
    (source / "model.py").write_text(ECHO.format(load=load, predict=predict, value=value))
    stores = open_stores(home)
    try:
        options = RegisterOptions(flavor="custom", entrypoint="model:Echo")
        return register(stores, source, "echo", options).version.version
    finally:
        stores.close()


class ApiError(AssertionError):
    """The control plane refused a call the test made."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ControlPlane:
    """A ``shipyard server`` for one home, and the CLI pointed at it."""

    home: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    scrape_interval: float = 5.0

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SHIPYARD_HOME": str(self.home),
            "SHIPYARD_SERVER_PORT": str(self.port),
        }

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.home / "server-test.log").open("ab")
        self.proc = subprocess.Popen(
            [
                SHIPYARD,
                "server",
                "--port",
                str(self.port),
                "--scrape-interval",
                str(self.scrape_interval),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_started()
        except BaseException:
            self.proc.kill()  # a fixture that fails here never reaches its cleanup
            self.proc.wait()
            raise

    def _wait_started(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.api("GET", "info")
                return
            except (OSError, ValueError):  # not listening, or server.json not written yet
                time.sleep(0.05)
            except ApiError as err:  # a stale server.json's token, before the new one is out
                if err.status != 401:
                    raise
                time.sleep(0.05)
        raise AssertionError("shipyard server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SHIPYARD, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    @property
    def token(self) -> str:
        state = json.loads((self.home / "run" / "server.json").read_text())
        return str(state["token"])

    def api(self, method: str, path: str, body: Any = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(
                method,
                f"/api/v1/{path}",
                body=None if body is None else json.dumps(body),
                headers={"authorization": f"Bearer {self.token}"},
            )
            response = connection.getresponse()
            data = json.loads(response.read() or b"null")
        finally:
            connection.close()
        if response.status >= 400:
            raise ApiError(f"{method} {path}: {response.status} {data}", response.status)
        return data

    def refused(self, method: str, path: str, body: Any = None) -> ApiError:
        """The error of a call that must fail."""
        try:
            self.api(method, path, body)
        except ApiError as err:
            return err
        raise AssertionError(f"{method} {path} was accepted")

    def status(self, name: str = "echo") -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", f"deployments/{name}")
        return result

    def wait_for(self, check: Any, seconds: float = 30, name: str = "echo") -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status = self.status(name)
            if check(status):
                return status
            time.sleep(0.05)
        raise AssertionError(f"condition not reached: {self.status(name)}")

    def events(self, kind_prefix: str = "") -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.api("GET", "events?limit=1000")
        return [e for e in events if e["kind"].startswith(kind_prefix)]

    def cleanup(self) -> None:
        """Stop the deployments' servers and the control plane."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        for status in self.api("GET", "deployments"):
            self.api("DELETE", f"deployments/{status['name']}")
        self.stop()


@dataclass
class Load:
    """Clients sending predictions continuously over keep-alive connections."""

    port: int
    clients: int = 4
    model: str = "echo"
    answers: Counter[float] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for _ in range(self.clients):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def total(self) -> int:
        return sum(self.answers.values()) + len(self.failures)

    def wait(self, requests: int, seconds: float = 30) -> None:
        """Until ``requests`` more have been answered."""
        target = self.total + requests
        deadline = time.monotonic() + seconds
        while self.total < target and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.total >= target, f"the load stalled at {self.total} requests"

    def _run(self) -> None:
        body = json.dumps({"instances": [[1.0]]})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            try:
                connection.request("POST", f"/v1/models/{self.model}:predict", body=body)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as err:
                with self._lock:
                    self.failures.append(f"{type(err).__name__}: {err}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                time.sleep(0.01)
                continue
            with self._lock:
                if response.status == 200:
                    value = json.loads(data)["predictions"][0][0]
                    self.answers[value] += 1
                    self.recent = [*self.recent[-49:], value]
                else:
                    self.failures.append(f"HTTP {response.status}: {data[:200]!r}")
        connection.close()


__all__ = ["ControlPlane", "Load", "echo_home", "free_port", "register_echo"]
