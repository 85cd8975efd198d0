"""Several versions in one real server: weighted, sticky and pinned traffic, shadows, the
admin interface, a hot swap under continuous load, worker restarts and graceful shutdown.

Every server here is a real `shipyard serve` process with two workers on loopback,
driven over HTTP and over its admin unix socket.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from shipyard.registry import RegisterOptions, register
from shipyard.serving.admin_client import AdminClient, AdminError
from shipyard.store import open_stores
from test_serving import SHIPYARD, custom_model_home, free_port, wait_ready

TOKEN = "test-admin-token"

SLOW_MODEL = """
import time

class Slow:
    signature = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, 1]}],
                 "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1, 1]}]}

    def load(self, path):
        pass

    def predict(self, x):
        time.sleep(float(x[0][0]))
        return x
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    admin: AdminClient
    log: Path

    def infer(self, row: Any, headers: dict[str, str] | None = None, path: str = "") -> Any:
        body = {"inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP32", "data": row}]}
        return httpx.post(f"{self.url}/v2/models/digits{path}/infer", json=body, headers=headers)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def serve(home: Path, tmp: Path, *args: str) -> Server:
    port = free_port()
    log = tmp / f"serve-{port}.log"
    socket_path = tmp / f"admin-{port}.sock"
    proc = subprocess.Popen(
        [SHIPYARD, "serve", *args, "--port", str(port), "--admin-socket", str(socket_path)],
        env={**os.environ, "SHIPYARD_HOME": str(home), "SHIPYARD_ADMIN_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    if wait_ready(url, proc, 90, also=socket_path.exists):
        return Server(proc, url, AdminClient(socket_path, TOKEN), log)
    proc.kill()
    raise AssertionError(f"server did not become ready: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """digits v1, v2, v3: three logistic regressions that disagree on some rows."""
    import skops.io

    tmp = tmp_path_factory.mktemp("traffic")
    features, labels = load_digits(return_X_y=True)
    home = tmp / "home"
    stores = open_stores(home)
    for c in (1.0, 1e-4, 1e-6):
        model = LogisticRegression(max_iter=300, C=c).fit(features, labels)
        skops.io.dump(model, tmp / f"model-{c}.skops")
        register(stores, tmp / f"model-{c}.skops", "digits", RegisterOptions())
    stores.close()
    return {"home": home, "tmp": tmp, "row": features[0].astype(np.float32).tolist()}


@pytest.fixture
def server_args() -> list[str]:
    return []


@pytest.fixture
def server(registry: dict[str, Any], server_args: list[str]) -> Iterator[Server]:
    server = serve(registry["home"], registry["tmp"], *server_args)
    yield server
    server.stop()


def version_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])


@pytest.mark.parametrize("server_args", [["digits", "--weights", "1=50,2=50", "--workers", "2"]])
def test_weights_route_keys_and_pins_choose_the_version(
    server: Server, registry: dict[str, Any]
) -> None:
    row = registry["row"]
    assert {version_of(server.infer(row)) for _ in range(60)} == {"1", "2"}
    for key in ("alice", "bob", "carol"):
        seen = {version_of(server.infer(row, {"x-shipyard-route-key": key})) for _ in range(10)}
        assert len(seen) == 1, key
    assert {version_of(server.infer(row, {"x-shipyard-version": "2"})) for _ in range(10)} == {"2"}
    assert {version_of(server.infer(row, path="/versions/1")) for _ in range(10)} == {"1"}
    assert server.infer(row, {"x-shipyard-version": "3"}).status_code == 404
    meta = httpx.get(f"{server.url}/v2/models/digits").json()
    assert meta["versions"] == ["1", "2"]


@pytest.mark.parametrize(
    "server_args",
    [["digits:1", "--shadow", "3=100", "--workers", "2", "--log-format", "json", "--access-log"]],
)
def test_shadow_versions_get_a_copy_whose_answer_is_measured_not_returned(
    server: Server, registry: dict[str, Any]
) -> None:
    features, _ = load_digits(return_X_y=True)
    for i in range(20):
        row = features[i].astype(np.float32).tolist()
        assert version_of(server.infer(row, {"x-request-id": f"shadow-{i}"})) == "1"
    deadline = time.monotonic() + 10
    counted: dict[str, float] = {}
    while time.monotonic() < deadline:
        page = httpx.get(f"{server.url}/metrics").text
        counted = {
            m.group(1): float(m.group(2))
            for m in re.finditer(
                r'shipyard_shadow_requests_total\{[^}]*result="(\w+)",version="3"\} (\S+)', page
            )
        }
        if sum(counted.values()) >= 20:
            break
        time.sleep(0.1)
    assert sum(counted.values()) == 20 and counted.get("mismatch", 0) > 0  # v3 disagrees
    assert 'shipyard_requests_total{code="200",deployment="digits"' in page
    assert 'version="3"} ' not in page.split("shipyard_requests_total")[1].split("# HELP")[0]
    server.stop()
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    logged = [e for e in lines if e.get("request_id") == "shadow-7"]
    assert logged and logged[0]["status"] == 200 and logged[0]["version"] == "1"


def test_hot_swap_under_continuous_load_fails_no_request(registry: dict[str, Any]) -> None:
    server = serve(registry["home"], registry["tmp"], "digits:1", "--workers", "2")
    row = registry["row"]
    stop = threading.Event()
    answers: list[tuple[float, str]] = []
    failures: list[str] = []

    def load() -> None:
        with httpx.Client() as client:
            body = {
                "inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP32", "data": row}]
            }
            while not stop.is_set():
                try:
                    r = client.post(f"{server.url}/v2/models/digits/infer", json=body)
                    if r.status_code == 200:
                        answers.append((time.monotonic(), r.json()["model_version"]))
                    else:
                        failures.append(f"{r.status_code} {r.text}")
                except httpx.HTTPError as err:
                    failures.append(repr(err))

    threads = [threading.Thread(target=load) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        server.admin.load(2)
        server.admin.route({"1": 50, "2": 50})
        time.sleep(0.5)
        server.admin.route({"2": 100})
        server.admin.unload(1)
        server.admin.load(3)
        server.admin.route({"2": 90, "3": 10})
        time.sleep(0.5)
        server.admin.route({"3": 100})
        switched = time.monotonic()
        server.admin.unload(2)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    state = server.admin.state()
    server.stop()
    assert failures == []
    assert len(answers) > 200
    assert {v for _, v in answers} == {"1", "2", "3"}
    assert {v for t, v in answers if t > switched + 0.05} == {"3"}
    assert state["versions"] == ["3"] and state["routes"]["weights"] == {"3": 100}
    assert [w["versions"] for w in state["workers"]] == [["3"], ["3"]]


@pytest.mark.parametrize("server_args", [["digits:1"]])
def test_admin_interface_needs_the_token_and_explains_refusals(server: Server) -> None:
    with pytest.raises(AdminError) as err:
        AdminClient(server.admin.socket_path, "wrong").state()
    assert err.value.status == 401
    cases = [
        (lambda: server.admin.load(99), 404, "has no version 99"),
        (lambda: server.admin.route({"2": 100}), 409, "version(s) 2: not loaded"),
        (lambda: server.admin.route({"1": 0}), 400, "needs a weight above 0"),
        (lambda: server.admin.unload(1), 409, "version 1 still receives traffic"),
        (lambda: server.admin.unload(7), 404, "version '7' is not loaded"),
        (lambda: server.admin.route({"²": 100}), 400, "is not a version number"),
        (
            lambda: server.admin.route({"1": 100, **{str(v): 0 for v in range(2, 20_000)}}),
            400,
            "over 65536 bytes",
        ),
    ]
    for call, status, message in cases:
        with pytest.raises(AdminError) as err:
            call()
        assert (err.value.status, message in err.value.message) == (status, True), err.value
    assert server.admin.state()["routes"]["weights"] == {"1": 100}  # nothing changed


@pytest.mark.parametrize("server_args", [["digits:2", "--workers", "2"]])
def test_a_dead_worker_is_replaced_in_the_current_state(
    server: Server, registry: dict[str, Any]
) -> None:
    server.admin.load(3)
    server.admin.route({"2": 50, "03": 50})  # kept as the workers read it: "3"
    before = {w["pid"] for w in server.admin.state()["workers"]}
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = server.admin.state()
        pids = {w["pid"] for w in state["workers"]}
        if len(pids) == 2 and victim not in pids and all(w["ready"] for w in state["workers"]):
            break
        time.sleep(0.2)
    assert victim not in {w["pid"] for w in state["workers"]} and len(state["workers"]) == 2
    assert all(w["versions"] == ["2", "3"] and w["ready"] for w in state["workers"])
    assert version_of(server.infer(registry["row"], {"x-shipyard-version": "3"})) == "3"


def test_sigterm_turns_readiness_false_first_and_finishes_in_flight_requests(
    tmp_path: Path,
) -> None:
    home = custom_model_home(tmp_path, "slow", SLOW_MODEL, "model:Slow")
    server = serve(home, tmp_path, "slow", "--workers", "2", "--shutdown-delay", "1.5")
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [2.0]}]}
    result: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: result.append(
            httpx.post(f"{server.url}/v2/models/slow/infer", json=body, timeout=30)
        )
    )
    slow.start()
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503  # still accepting
    quick = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [0.0]}]}
    assert httpx.post(f"{server.url}/v2/models/slow/infer", json=quick).status_code == 200
    slow.join(timeout=30)
    assert result and result[0].status_code == 200
    assert server.proc.wait(timeout=30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/v2/health/live")


@pytest.mark.parametrize("server_args", [["digits:1", "--workers", "2"]])
def test_workers_exit_when_the_supervisor_is_killed(server: Server) -> None:
    workers = [w["pid"] for w in server.admin.state()["workers"]]
    server.proc.kill()
    server.proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.1)
    alive = [p for p in workers if Path(f"/proc/{p}").exists()]
    assert alive == [] or all(
        Path(f"/proc/{p}/stat").read_text().split()[2] == "Z" for p in alive
    ), alive


def test_traffic_split_counts_per_version_in_metrics(registry: dict[str, Any]) -> None:
    server = serve(registry["home"], registry["tmp"], "digits", "--weights", "1=80,2=20")
    try:
        seen = Counter(version_of(server.infer(registry["row"])) for _ in range(100))
        page = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    for version in ("1", "2"):
        count = re.search(
            rf'shipyard_requests_total\{{code="200",deployment="digits",model="digits",'
            rf'protocol="v2",version="{version}"\}} (\S+)',
            page,
        )
        assert count is not None and float(count.group(1)) == seen[version]
    assert (
        'shipyard_route_weight{deployment="digits",model="digits",role="live",version="1"} 80.0'
        in page
    )


@pytest.mark.parametrize("server_args", [["digits:1"]])
def test_a_second_server_on_a_taken_port_fails_and_leaves_the_first_alone(
    server: Server, registry: dict[str, Any], tmp_path: Path
) -> None:
    port = server.url.rsplit(":", 1)[1]
    socket_path = tmp_path / "second.sock"
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_ADMIN_TOKEN"}
    second = subprocess.run(
        [SHIPYARD, "serve", "digits:1", "--port", port, "--admin-socket", str(socket_path)],
        env={**env, "SHIPYARD_HOME": str(registry["home"])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2 and "cannot listen on 127.0.0.1:" in second.stderr
    assert not socket_path.with_name("second.sock.token").exists()  # written only once bound
    assert server.admin.state()["versions"] == ["1"]


def test_requests_beyond_max_concurrent_get_503_with_retry_after(tmp_path: Path) -> None:
    import asyncio

    home = custom_model_home(tmp_path, "slow", SLOW_MODEL, "model:Slow")
    server = serve(home, tmp_path, "slow", "--max-concurrent", "2")
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [1.0]}]}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(client.post(f"{server.url}/v2/models/slow/infer", json=body) for _ in range(5))
            )

    try:
        answers = asyncio.run(burst())
    finally:
        server.stop()
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 2 and codes.count(503) == 3, codes
    refused = next(a for a in answers if a.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert "too many requests in flight" in refused.json()["error"]
