"""Drift, end to end: a digits classifier registered with a reference summary, deployed by
a real control plane; live inputs like the reference keep InputDrift quiet, shifted live
inputs raise it and the webhook hears it."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from deploy_helpers import ControlPlane, free_port
from test_serving import SHIPYARD
from webhook_helpers import webhook

RULE = {
    "name": "InputDrift",
    "when": "drift_psi > 0.2",
    "window": "30s",
    "actions": ["notify"],
}


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    features, labels = load_digits(return_X_y=True)
    model = tmp_path / "model.skops"
    skops.io.dump(LogisticRegression(max_iter=300).fit(features, labels), model)
    np.save(tmp_path / "reference.npy", features)
    plane = ControlPlane(tmp_path / "home", free_port(), scrape_interval=0.5)
    registered = subprocess.run(
        [SHIPYARD, "register", str(model), "--name", "digits", "--reference",
         str(tmp_path / "reference.npy")],
        env=plane.env, capture_output=True, text=True,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    plane.start()
    yield plane
    plane.cleanup()


def send(port: int, rows: np.ndarray) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for start in range(0, len(rows), 10):
            body = json.dumps({"instances": rows[start : start + 10].tolist()})
            connection.request("POST", "/v1/models/digits:predict", body=body)
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()
    finally:
        connection.close()


def states(cp: ControlPlane) -> dict[str, Any]:
    return {r["rule"]: r for r in cp.api("GET", "alerts")}


def test_drift_injected_into_live_inputs_raises_input_drift(cp: ControlPlane) -> None:
    port = free_port()
    cp.api("POST", "deployments", {"model": "digits", "version": 1, "port": port})
    cp.wait_for(lambda s: s["stable"] == 1 and s["in_sync"], name="digits", seconds=60)
    features, _ = load_digits(return_X_y=True)
    with webhook() as hook:
        monitor = {"alerts": [RULE], "notify": [{"webhook": hook.url}]}
        cp.api("PUT", "deployments/digits/monitor", {"monitor": monitor})

        send(port, features[::3])  # 599 rows like the reference
        deadline = time.monotonic() + 30  # counts flushed, scraped, evaluated
        while states(cp)["InputDrift"]["value"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
        quiet = states(cp)["InputDrift"]
        assert quiet["state"] == "inactive" and quiet["value"] is not None
        assert quiet["value"] < 0.1

        send(port, np.clip(16 - features[1::3], 0, 16))  # the images in negative
        fired = hook.wait_for(lambda b: b["alert"]["name"] == "InputDrift", seconds=30)
    assert fired["status"] == "firing" and fired["alert"]["value"] > 0.2
    assert states(cp)["InputDrift"]["state"] == "firing"
    metrics = cp.api("GET", "deployments/digits/metrics?window=1m")
    worst = metrics["drift"]["features"][0]
    assert worst["psi"] > 0.2 and 0 < worst["ks"] <= 1
