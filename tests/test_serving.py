"""`shipyard serve`: a real server process on loopback, spoken to over HTTP by both protocols."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from shipyard.registry import RegisterOptions, register
from shipyard.registry.aliases import set_alias
from shipyard.store import open_stores

SHIPYARD = str(Path(sys.executable).parent / "shipyard")

FLAKY_MODEL = """
import time

class Flaky:
    signature = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, 1]}],
                 "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1, 1]}]}

    def load(self, path):
        pass

    def predict(self, x):
        if x[0][0] < 0:
            raise ValueError("negative input is not supported")
        if x[0][0] > 1000:
            time.sleep(5)
        return x * 2
"""


def custom_model_home(tmp_path: Path, name: str, source: str, entrypoint: str) -> Path:
    """A registry under ``tmp_path`` holding ``name`` v1, a custom model from ``source``."""
    model = tmp_path / name
    model.mkdir()
    (model / "model.py").write_text(source)
    home = tmp_path / "home"
    stores = open_stores(home)
    register(stores, model, name, RegisterOptions(flavor="custom", entrypoint=entrypoint))
    stores.close()
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    seconds: float,
    also: Callable[[], bool] = lambda: True,
) -> bool:
    """Poll ``/v2/health/ready`` until it answers 200 (and ``also()`` holds), or give up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/v2/health/ready").status_code == 200 and also():
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def start(home: Path, ref: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [SHIPYARD, "serve", ref, "--port", str(port), *extra],
        env={**os.environ, "SHIPYARD_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    if wait_ready(url, proc, 60):
        return proc, url
    proc.kill()
    raise AssertionError(
        f"server did not become ready: {proc.stderr.read() if proc.stderr else ''}"
    )


def digits_registry(tmp: Path) -> tuple[Path, LogisticRegression, np.ndarray]:
    """A registry under ``tmp`` with a digits model as ``digits@production``: its home,
    the fitted model and the features it was fitted on."""
    import skops.io

    features, labels = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    skops.io.dump(model, tmp / "model.skops")
    home = tmp / "home"
    stores = open_stores(home)
    version = register(stores, tmp / "model.skops", "digits", RegisterOptions()).version
    set_alias(stores, "digits", "production", version.version)
    stores.close()
    return home, model, features


@pytest.fixture(scope="module")
def digits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home, model, features = digits_registry(tmp_path_factory.mktemp("serve"))
    proc, url = start(home, "digits@production", "--max-body", "100000")
    yield {"url": url, "model": model, "features": features.astype(np.float32)}
    proc.terminate()
    proc.wait(timeout=30)


def test_v1_and_v2_answer_like_the_model_in_process(digits_server: dict[str, Any]) -> None:
    url, model, features = digits_server["url"], digits_server["model"], digits_server["features"]
    rows = features[:5]
    v1 = httpx.post(f"{url}/v1/models/digits:predict", json={"instances": rows.tolist()})
    assert v1.status_code == 200
    assert v1.json() == {"predictions": model.predict(rows).tolist()}
    body = {
        "id": "r-1",
        "inputs": [
            {
                "name": "input-0",
                "shape": [5, 64],
                "datatype": "FP32",
                "data": rows.reshape(-1).tolist(),
            }
        ],
    }
    v2 = httpx.post(f"{url}/v2/models/digits/versions/1/infer", json=body)
    assert v2.status_code == 200
    answer = v2.json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("digits", "1", "r-1")
    assert answer["outputs"] == [
        {
            "name": "output-0",
            "shape": [5],
            "datatype": "INT64",
            "data": model.predict(rows).tolist(),
        }
    ]
    nested = {"inputs": [{**body["inputs"][0], "data": rows.tolist()}]}
    assert (
        httpx.post(f"{url}/v2/models/digits/infer", json=nested).json()["outputs"]
        == answer["outputs"]
    )


def test_metadata_health_and_request_ids(digits_server: dict[str, Any]) -> None:
    url = digits_server["url"]
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/models/digits/ready").status_code == 200
    meta = httpx.get(f"{url}/v2/models/digits").json()
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 64]}]
    assert httpx.get(f"{url}/v2").json()["name"] == "shipyard"
    echoed = httpx.get(f"{url}/v2/health/live", headers={"x-request-id": "abc"})
    assert echoed.headers["x-request-id"] == "abc"
    assert len(httpx.get(f"{url}/healthz").headers["x-request-id"]) == 32
    for path in ("/metrics", "/docs", "/openapi.json", "/no/such/page"):
        assert httpx.get(f"{url}{path}").headers.get("x-request-id"), path
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/v2/models/{name}/infer" in spec["paths"]
    assert "openapi.json" in httpx.get(f"{url}/docs").text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "malformed JSON"),
        (
            b'{"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP32", '
            b'"data": [1,2,3]}]}',
            400,
            "shape [1, 3], expected [-1, 64]",
        ),
        (
            b'{"inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "INT64", "data": []}]}',
            400,
            "datatype INT64, expected FP32",
        ),
        (
            b'{"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": []}]}',
            400,
            "unknown input 'pixels'",
        ),
        (
            b'{"inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP32", '
            b'"data": [NaN]}]}',
            400,
            "malformed JSON",
        ),
        (b'{"inputs": []}', 400, "non-empty 'inputs' list"),
        (
            b'{"inputs": [{"name": "input-0", "shape": [2, 64], "datatype": "FP32", "data": [1]}]}',
            400,
            "holds 128 values, data has 1",
        ),
    ],
)
def test_bad_v2_requests_get_4xx_with_a_reason(
    digits_server: dict[str, Any], body: bytes, status: int, message: str
) -> None:
    response = httpx.post(f"{digits_server['url']}/v2/models/digits/infer", content=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_unknown_model_version_and_oversized_body(digits_server: dict[str, Any]) -> None:
    url = digits_server["url"]
    assert httpx.post(f"{url}/v2/models/cats/infer", json={"inputs": []}).status_code == 404
    assert httpx.post(f"{url}/v2/models/digits/versions/9/infer", json={}).status_code == 404
    huge = {"instances": [[0.0] * 64] * 1000}
    too_big = httpx.post(f"{url}/v1/models/digits:predict", json=huge)
    assert too_big.status_code == 413 and "over the limit" in too_big.json()["error"]
    bad_rows = httpx.post(f"{url}/v1/models/digits:predict", json={"instances": [[1, 2]]})
    assert bad_rows.status_code == 400


def test_metrics_count_requests_by_code(digits_server: dict[str, Any]) -> None:
    url, row = digits_server["url"], digits_server["features"][:1]
    predicted = int(digits_server["model"].predict(row)[0])
    httpx.post(f"{url}/v1/models/digits:predict", json={"instances": row.tolist()})
    page = httpx.get(f"{url}/metrics").text
    labels = 'deployment="digits",model="digits"'
    assert f'shipyard_requests_total{{code="200",{labels},protocol="v1",version="1"}}' in page
    assert "shipyard_inference_duration_seconds_bucket" in page
    assert f'shipyard_predictions_total{{{labels},value="{predicted}",version="1"}}' in page
    assert f'shipyard_model_loaded{{{labels},version="1"}} 1.0' in page
    assert f'shipyard_queue_depth{{{labels},version="1"}} 0.0' in page


def test_requests_tallied_in_a_loop_turn_read_as_if_observed_one_by_one() -> None:
    import asyncio

    from prometheus_client import CollectorRegistry, Counter, Histogram

    from shipyard.serving import metrics

    durations = [0.0004, 0.003, 0.005, 0.02, 0.3, 4.0, 12.0, 0.003]
    codes = [200, 200, 400, 200, 500, 200, 200, 200]
    tallied = metrics.VersionMetrics("tally", "m", "1")

    def samples(*families: Any) -> dict[tuple[str, str], float]:
        """(sample suffix, code or bucket bound): value, for the tallied deployment."""
        found = {}
        for family in families:
            for metric in family.collect():
                for sample in metric.samples:
                    if sample.labels.get("deployment", "tally") != "tally":
                        continue
                    if sample.name.endswith("_created"):
                        continue
                    suffix = sample.name.removeprefix(metric.name)
                    found[suffix, sample.labels.get("code", sample.labels.get("le", ""))] = (
                        sample.value
                    )
        return found

    async def answer_all() -> dict[tuple[str, str], float]:
        for code, seconds in zip(codes, durations, strict=True):
            tallied.request("v1", code, seconds)
        before = samples(metrics.REQUESTS)  # written once the loop turns, not before
        await asyncio.sleep(0)
        return before

    assert asyncio.run(answer_all()) == {}

    # what inc and observe per request give, in a registry of their own
    registry = CollectorRegistry()
    requests = Counter("r", "", ["code"], registry=registry)
    seconds = Histogram("d", "", registry=registry)
    for code, value in zip(codes, durations, strict=True):
        requests.labels(code=str(code)).inc()
        seconds.observe(value)
    assert samples(metrics.REQUESTS) == samples(requests)
    assert samples(metrics.REQUEST_SECONDS) == samples(seconds)
    assert samples(seconds)["_count", ""] == len(durations)


def test_a_failing_or_hanging_model_gets_500_or_408_and_the_server_keeps_serving(
    tmp_path: Path,
) -> None:
    home = custom_model_home(tmp_path, "flaky", FLAKY_MODEL, "model:Flaky")
    proc, url = start(home, "flaky", "--timeout", "0.5")
    try:

        def infer(value: float) -> httpx.Response:
            body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [value]}]}
            return httpx.post(
                f"{url}/v2/models/flaky/infer", json=body, headers={"x-request-id": f"req-{value}"}
            )

        failed = infer(-1)
        assert failed.status_code == 500
        assert "negative input is not supported" in failed.json()["error"]
        assert failed.json()["request_id"] == "req--1"
        assert infer(5000).status_code == 408
        assert infer(3).json()["outputs"][0]["data"] == [6.0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serving_an_unknown_model_fails_before_starting(tmp_path: Path) -> None:
    proc = subprocess.run(
        [SHIPYARD, "--home", str(tmp_path), "serve", "ghost@production"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 4 and "unknown model 'ghost'" in proc.stderr


def test_tritonclient_http_metadata_and_infer_work_unchanged(digits_server: dict[str, Any]) -> None:
    import tritonclient.http as triton

    url, model, features = digits_server["url"], digits_server["model"], digits_server["features"]
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("digits")
    metadata = client.get_model_metadata("digits")
    assert metadata["inputs"][0]["name"] == "input-0"
    rows = features[:3]
    for binary in (True, False):  # True is the client's default: the binary data extension
        tensor = triton.InferInput("input-0", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows, binary_data=binary)
        result = client.infer("digits", [tensor])
        assert result.as_numpy("output-0").tolist() == model.predict(rows).tolist()
        wanted = triton.InferRequestedOutput("output-0", binary_data=binary)
        result = client.infer("digits", [tensor], outputs=[wanted])
        assert result.as_numpy("output-0").tolist() == model.predict(rows).tolist()


def test_schemathesis_finds_no_server_error_in_the_openapi_surface(
    digits_server: dict[str, Any], tmp_path: Path
) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    proc = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{digits_server['url']}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "30",
            "--generation-deterministic",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
    )
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_concurrent_requests_are_batched_and_measured(digits_server: dict[str, Any]) -> None:
    import asyncio
    import re

    url, model, features = digits_server["url"], digits_server["model"], digits_server["features"]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient() as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{url}/v1/models/digits:predict",
                        json={"instances": features[i : i + 1].tolist()},
                    )
                    for i in range(48)
                )
            )

    answers = asyncio.run(burst())
    assert [a.json()["predictions"][0] for a in answers] == model.predict(features[:48]).tolist()
    page = httpx.get(f"{url}/metrics").text
    rows = float(re.search(r"shipyard_batch_size_sum\{[^}]*\} (\S+)", page).group(1))
    batches = float(re.search(r"shipyard_batch_size_count\{[^}]*\} (\S+)", page).group(1))
    assert rows >= 48 and 1 <= batches <= rows


def test_a_model_the_workers_cannot_load_is_one_clear_error(tmp_path: Path) -> None:
    import skops.io
    from sklearn.ensemble import RandomForestClassifier

    from shipyard.flavors import TrustPolicy

    features, labels = load_digits(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels)
    skops.io.dump(forest, tmp_path / "forest.skops")
    home = tmp_path / "home"
    stores = open_stores(home)
    trust = TrustPolicy(types=("sklearn.tree._tree.Tree",))
    register(stores, tmp_path / "forest.skops", "forest", RegisterOptions(trust=trust))
    stores.close()
    proc = subprocess.run(
        [SHIPYARD, "--home", str(home), "serve", "forest:1", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 7, proc.stderr
    assert "does not trust by default: sklearn.tree._tree.Tree" in proc.stderr
    assert "pass --trust sklearn.tree._tree.Tree" in proc.stderr
    assert "Traceback" not in proc.stderr
