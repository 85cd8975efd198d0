"""Start-up under immediate load: `shipyard serve digits --workers 2` is started, answers its
readiness probe, gets 64 connections at once, and is stopped — round after round. Every
request of every round is answered, the server stops cleanly, and each round's supervisor
and worker log is kept (and shown when a round fails). A dead worker is replaced at once,
and the supervisor's log says how it died.

The default suite runs a few rounds; `make test-stress` runs 50 (`-m stress`)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from test_serving import SHIPYARD, custom_model_home, digits_registry, free_port, wait_ready

CONNECTIONS = 64
LOAD_S = 1.0


@pytest.fixture(scope="module")
def digits_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float], int]:
    """A registry with the digits model in production, one of its rows and that row's class."""
    home, model, features = digits_registry(tmp_path_factory.mktemp("startup"))
    row = [float(v) for v in features[5]]
    return home, row, int(model.predict(features[5:6])[0])


@dataclass
class Burst:
    """``CONNECTIONS`` keep-alive clients, started together, each sending for ``LOAD_S``."""

    port: int
    body: bytes
    expected: int
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        gate = threading.Barrier(CONNECTIONS)
        threads = [threading.Thread(target=self._client, args=(gate,)) for _ in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _client(self, gate: threading.Barrier) -> None:
        gate.wait()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"content-type": "application/json"}
        deadline = time.monotonic() + LOAD_S
        try:
            while time.monotonic() < deadline:
                connection.request("POST", "/v1/models/digits:predict", self.body, headers)
                response = connection.getresponse()
                data = response.read()
                if response.status != 200 or json.loads(data)["predictions"] != [self.expected]:
                    self._failed(f"HTTP {response.status}: {data[:200]!r}")
                    return
                with self.lock:
                    self.answered += 1
        except (OSError, http.client.HTTPException) as err:
            self._failed(f"{type(err).__name__}: {err}")
        finally:
            connection.close()

    def _failed(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def one_round(home: Path, row: list[float], expected: int, log: Path) -> list[str]:
    """Start, readiness, burst, stop: what went wrong (nothing, when all is well)."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SHIPYARD, "serve", "digits@production", "--workers", "2", "--port", str(port)],
            env={**os.environ, "SHIPYARD_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            if not wait_ready(f"http://127.0.0.1:{port}", proc, 60):
                return [f"not ready within 60 s (exit {proc.poll()})"]
            burst = Burst(port, json.dumps({"instances": [row]}).encode(), expected)
            burst.run()
            problems = burst.failures[:5]
            if burst.answered == 0:
                problems.append("no request answered")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    if code != 0:
        problems.append(f"the server exited with {code} on SIGTERM")
    return problems


def rounds(home: Path, row: list[float], expected: int, logs: Path, count: int) -> None:
    logs.mkdir(exist_ok=True)
    for n in range(1, count + 1):
        log = logs / f"round-{n:02d}.log"
        problems = one_round(home, row, expected, log)
        assert not problems, f"round {n}: {problems}\n--- {log}:\n{log.read_text()[-4000:]}"


def test_a_server_loaded_as_soon_as_it_is_ready_answers_every_request(
    digits_home: tuple[Path, list[float], int], tmp_path: Path
) -> None:
    home, row, expected = digits_home
    rounds(home, row, expected, tmp_path / "logs", 3)


@pytest.mark.stress
def test_fifty_starts_under_immediate_load_answer_every_request(
    digits_home: tuple[Path, list[float], int], tmp_path: Path
) -> None:
    home, row, expected = digits_home
    rounds(home, row, expected, tmp_path / "logs", 50)


def start_server(home: Path, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SHIPYARD, "serve", *extra, "--workers", "2", "--port", str(port)],
            env={**os.environ, "SHIPYARD_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}"


def wait_for_log(log: Path, text: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in (found := log.read_text()):
            return found
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log:\n{log.read_text()[-3000:]}")


def test_a_killed_worker_is_replaced_at_once_and_the_log_says_how_it_died(
    digits_home: tuple[Path, list[float], int], tmp_path: Path
) -> None:
    home, row, expected = digits_home
    log = tmp_path / "server.log"
    proc, url = start_server(home, log, "digits@production")
    try:
        wait_for_log(log, "ready in")  # both workers serve
        before = _worker_pids(proc.pid)
        assert len(before) == 2
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        replaced = None
        while time.monotonic() - killed_at < 5:
            now = _worker_pids(proc.pid)
            if victim not in now and len(now) == 2:
                replaced = time.monotonic() - killed_at
                break
            time.sleep(0.02)
        assert replaced is not None and replaced < 1.0, f"replaced after {replaced} s"
        wait_for_log(log, f"(pid {victim}) was killed by SIGKILL")
        answer = httpx.post(f"{url}/v1/models/digits:predict", json={"instances": [row]})
        assert answer.json()["predictions"] == [expected]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


SLOW_TWIN = """
import os, time

class Model:
    def load(self, path):
        marker = os.environ["MARKER"]
        try:  # the first worker to load is quick and says who it is; any other takes 4 s
            with open(marker, "x") as f:
                f.write(str(os.getpid()))
        except FileExistsError:
            time.sleep(4)

    def predict(self, rows):
        return [[2 * row[0]] for row in rows]
"""


def test_a_worker_lost_while_starting_is_replaced_when_another_already_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = custom_model_home(tmp_path, "twin", SLOW_TWIN, "model:Model")
    marker = tmp_path / "quick-worker"
    monkeypatch.setenv("MARKER", str(marker))
    log = tmp_path / "server.log"
    proc, url = start_server(home, log, "twin")
    try:
        assert wait_ready(url, proc, 60), log.read_text()  # the quick worker answers
        quick = int(marker.read_text())
        (slow,) = (pid for pid in _worker_pids(proc.pid) if pid != quick)
        os.kill(slow, signal.SIGKILL)  # the other one, still loading
        body = {"instances": [[1.5]]}
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # the quick one goes on answering meanwhile
            answer = httpx.post(f"{url}/v1/models/twin:predict", json=body, timeout=30)
            assert answer.json()["predictions"] == [[3.0]], answer.text
        text = wait_for_log(log, "ready in")  # the start ends with the replacement serving
        assert f"(pid {slow}) was killed by SIGKILL" in text
        assert proc.poll() is None and len(_worker_pids(proc.pid)) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _worker_pids(supervisor: int) -> list[int]:
    """The supervisor's child processes (its workers), oldest first."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def _processes_of(home: Path) -> list[int]:
    """Live processes started with ``SHIPYARD_HOME=home``."""
    mark = f"SHIPYARD_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and mark in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def test_workers_started_before_the_version_is_resolved_do_not_outlive_a_bad_reference(
    digits_home: tuple[Path, list[float], int],
) -> None:
    """Workers start while the version is resolved; one that cannot be takes them down."""
    home, _, _ = digits_home
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    for ref in ("nosuch@production", "digits:9"):
        proc = subprocess.run(
            [SHIPYARD, "serve", ref, "--workers", "2", "--port", str(free_port())],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode != 0
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert _processes_of(home) == []
