"""The control plane's REST API: documented, guarded, and clear about bad requests."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy_helpers import ControlPlane, free_port
from test_serving import SHIPYARD


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path / "home", free_port())
    plane.start()
    yield plane
    plane.stop()


def request(
    port: int, method: str, path: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, json.loads(raw) if raw.startswith((b"{", b"[")) else raw


def test_every_call_needs_the_token_the_server_wrote_for_its_home(cp: ControlPlane) -> None:
    server_json = cp.home / "run" / "server.json"
    assert server_json.stat().st_mode & 0o777 == 0o600
    status, answer = request(cp.port, "GET", "/api/v1/deployments")
    assert status == 401 and "server.json" in answer["hint"]
    assert request(cp.port, "GET", "/api/v1/deployments", token=cp.token) == (200, [])


def test_the_api_is_versioned_and_documented_in_openapi(cp: ControlPlane) -> None:
    status, doc = request(cp.port, "GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/deployments",
        "/api/v1/deployments/{name}/rollback",
        "/api/v1/deployments/{name}/promote",
        "/api/v1/events",
    ):
        assert path in doc["paths"]
    deploy = doc["components"]["schemas"]["DeployRequest"]
    assert {"model", "version"} <= set(deploy["required"])
    status, page = request(cp.port, "GET", "/docs")
    assert status == 200 and b"openapi.json" in page


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not JSON"),
        (b'{"model": "m"}', 400, "version"),
        (b'{"model": "m", "version": 1, "colour": "red"}', 400, "colour"),
        (b'{"model": "m", "version": 1, "interval": "soon"}', 400, "interval"),
        (b'{"model": "nope", "version": 1}', 404, "nope"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_what_was_wrong(
    cp: ControlPlane, body: bytes, status: int, words: str
) -> None:
    got, answer = request(cp.port, "POST", "/api/v1/deployments", body, cp.token)
    assert got == status and words in answer["error"]
    assert answer["exit_code"] in (2, 4)


def test_unknown_deployments_are_404_with_a_hint(cp: ControlPlane) -> None:
    status, answer = request(cp.port, "POST", "/api/v1/deployments/ghost/rollback", b"{}", cp.token)
    assert status == 404 and "ghost" in answer["error"] and answer["hint"]


def test_a_token_guards_every_call_when_configured(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path), "SHIPYARD_SERVER_TOKEN": "s3cret"}
    proc = subprocess.Popen([SHIPYARD, "server", "--port", str(port)], env=env)
    try:
        for _ in range(600):
            try:
                status, _ = request(port, "GET", "/api/v1/info")
                break
            except OSError:
                time.sleep(0.05)
        assert status == 401
        assert request(port, "GET", "/api/v1/info", token="wrong")[0] == 401
        assert request(port, "GET", "/api/v1/info", token="s3cret")[0] == 200
        listed = subprocess.run(
            [SHIPYARD, "status", "--json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert listed.returncode == 0 and json.loads(listed.stdout) == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_cli_starts_a_server_in_the_background_when_none_runs(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path), "SHIPYARD_SERVER_PORT": str(port)}
    first = subprocess.run(
        [SHIPYARD, "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    assert "started shipyard server" in first.stderr and "no deployments yet" in first.stdout
    state = json.loads((tmp_path / "run" / "server.json").read_text())
    assert (tmp_path / "run" / "server.json").stat().st_mode & 0o777 == 0o600
    second = subprocess.run(
        [SHIPYARD, "server", "--detach"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "already running" in second.stdout and str(state["pid"]) in second.stdout
    os.kill(state["pid"], 15)


def test_events_follow_prints_new_events_as_they_happen(tmp_path: Path) -> None:
    import threading

    from shipyard.store import open_stores

    stores = open_stores(tmp_path)
    stores.metadata.append_event("test.before", "me", model=None, version=None, data={})
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [SHIPYARD, "events", "--follow", "--json"], env=env, stdout=subprocess.PIPE, text=True
    )
    guard = threading.Timer(60, proc.kill)
    guard.start()
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["kind"] == "test.before"
        stores.metadata.append_event("test.after", "me", model=None, version=None, data={"n": 2})
        later = json.loads(proc.stdout.readline())
        assert later["kind"] == "test.after" and later["data"] == {"n": 2}
    finally:
        guard.cancel()
        proc.terminate()
        proc.wait(timeout=30)
        stores.close()


def test_two_commands_starting_the_control_plane_at_once_both_succeed(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path), "SHIPYARD_SERVER_PORT": str(port)}
    both = [
        subprocess.Popen(
            [SHIPYARD, "status", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        codes = [p.wait(timeout=90) for p in both]
        assert codes == [0, 0], [p.stderr.read() if p.stderr else b"" for p in both]
    finally:
        state = json.loads((tmp_path / "run" / "server.json").read_text())
        os.kill(state["pid"], 15)
