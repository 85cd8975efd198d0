"""The two Keras examples from commit to a watched deployment, on Keras 3 over torch.

``examples/digits-keras`` (the MLP on 8x8 digits) and ``examples/sentiment-lstm`` (an
LSTM over words, taking raw strings) each run their whole pipeline with a control plane:
train with per-epoch metrics, 5-fold cross-validation with a fresh model per fold, gates,
package, register, deploy and verify. Then the deployed version is asked what its users
ask, with good and bad input, and its drift and live-accuracy series are read.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from conftest import example_project
from deploy_helpers import ControlPlane, free_port
from test_serving import SHIPYARD

# A fresh re-run of the seeded training agrees with the first run's validation this
# closely (torch on CPU is deterministic here: they agree exactly; the tolerance allows
# for other BLAS builds), as the README states.
TOLERANCE = 0.01


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    control = ControlPlane(tmp_path / "home", free_port())
    control.start()
    yield control
    control.cleanup()


def run(plane: ControlPlane, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHIPYARD, "run", *args], cwd=root, env=plane.env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def call(
    port: int, method: str, path: str, body: Any = None
) -> tuple[int, Any, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body))
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    text = data.decode()
    return response.status, json.loads(text) if text.startswith(("{", "[")) else text, response


def series(port: int, name: str) -> dict[str, float]:
    """The samples of metric ``name`` on the deployment's /metrics, by their label text."""
    status, text, _ = call(port, "GET", "/metrics")
    assert status == 200
    found = {}
    for line in str(text).splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels] = float(value)
    return found


def eventually(check: Any, seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    return check()


def shipyard_json(plane: ControlPlane, *args: str) -> Any:
    """What ``shipyard ARGS --json`` prints, read."""
    done = subprocess.run([SHIPYARD, *args, "--json"], env=plane.env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    return json.loads(done.stdout)


def stage_metrics(plane: ControlPlane, run_id: str, stage: str) -> dict[str, float]:
    stages = shipyard_json(plane, "runs", "show", run_id)["stages"]
    found: dict[str, float] = next(s["metrics"] for s in stages if s["name"] == stage)
    return found


def last_run(plane: ControlPlane) -> str:
    return str(shipyard_json(plane, "runs", "list", "--limit", "1")[0]["id"])


def test_digits_keras_runs_from_commit_to_a_watched_deployment(
    plane: ControlPlane, tmp_path: Path
) -> None:
    port = free_port()
    root = example_project(tmp_path / "digits-keras", "digits-keras", port=port)
    first = run(plane, root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "registered digits-keras v1" in first.stdout
    assert "2 smoke request(s) answered as expected" in first.stdout  # logits read as classes
    run_id = last_run(plane)

    # the run, shown: each epoch's loss and accuracy, each fold's scores, the gates
    shown = subprocess.run(
        [SHIPYARD, "runs", "show", run_id], env={**plane.env, "COLUMNS": "200"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "training, step by step" in shown and "train.loss" in shown
    epochs = re.findall(r"(?m)^\s*(\d+)\s+0\.\d+\s+\d+\.\d+\s*$", shown)
    assert epochs == [str(n) for n in range(1, 11)]
    assert "cross-validation" in shown and "fold 5" in shown
    assert "cv.accuracy >= 0.93" in shown
    history = [json.loads(line) for line in (root / ".shipyard/reports/train-history.jsonl")
               .read_text().splitlines()]  # fmt: skip
    assert [h["step"] for h in history] == list(range(1, 11))
    assert history[-1]["train.loss"] < history[0]["train.loss"]

    version = shipyard_json(plane, "models", "show", "digits-keras:1")
    assert version["flavor"] == "keras"
    assert version["signature"]["inputs"] == [
        {"name": "input-0", "datatype": "FP32", "shape": [-1, 8, 8]}
    ]
    assert version["metrics"]["train.accuracy"] == history[-1]["train.accuracy"]
    assert version["metrics"]["cv.accuracy"] >= 0.93

    # served: 8x8 images in, 10 logits out; their highest is the digit
    images, labels = load_digits(return_X_y=True)
    rows = (images[:20].reshape(-1, 8, 8) / 16).tolist()
    status, answer, response = call(port, "POST", "/v1/models/digits-keras:predict",
                                    {"instances": rows})  # fmt: skip
    assert status == 200, answer
    logits = np.array(answer["predictions"])
    assert logits.shape == (20, 10)
    assert (logits.argmax(axis=1) == labels[:20]).mean() >= 0.9
    # live accuracy: a label for that answer is compared with the class of its highest logit
    rid = response.headers["x-request-id"]
    status, feedback, _ = call(port, "POST", "/v1/models/digits-keras/feedback",
                               {"request_id": rid, "label": labels[:20].tolist()})  # fmt: skip
    assert status == 200, feedback
    assert feedback["correct"] == (logits.argmax(axis=1) == labels[:20]).tolist()
    outcomes = eventually(lambda: series(port, "shipyard_feedback_total"))
    assert sum(v for k, v in outcomes.items() if 'outcome="correct"' in k) >= 18

    # drift: every pixel of the images counted into its reference bins
    def pixel_27() -> float:  # the 2 smoke images of verify, then these 20
        found = series(port, "shipyard_input_bin_total")
        return sum(v for k, v in found.items() if 'feature="27"' in k)

    assert eventually(lambda: pixel_27() == 22)
    bins = series(port, "shipyard_input_bin_total")
    # (pixel 0 is blank in every image: a constant feature has no bins to drift between)
    assert {k.split('feature="')[1].split('"')[0] for k in bins} >= {"27", "36", "63"}

    # bad input: a string where the MLP takes numbers
    status, refused, _ = call(port, "POST", "/v1/models/digits-keras:predict",
                              {"instances": [[["seven"] * 8] * 8]})  # fmt: skip
    assert status == 400 and "'instances'" in refused["error"] and "FP32" in refused["error"]

    # a fresh re-train with the same seed validates as the first did
    again = run(plane, root, "--force", "train", "--force", "validate", "--to", "validate")
    assert again.returncode == 0, again.stdout + again.stderr
    before, after = (
        stage_metrics(plane, run_id, "validate"),
        stage_metrics(plane, last_run(plane), "validate"),
    )
    for name in ("cv.accuracy", "validate.accuracy"):
        assert abs(before[name] - after[name]) <= TOLERANCE, (name, before[name], after[name])

    # a weaker challenger: one epoch is stopped at the gate, nothing registered
    weak = run(plane, root, "--param", "epochs=1")
    assert weak.returncode == 3, weak.stdout + weak.stderr
    assert "quality gate(s) failed" in weak.stderr
    listed = shipyard_json(plane, "models", "versions", "digits-keras")
    assert [v["version"] for v in listed] == [1]


def test_sentiment_lstm_takes_raw_strings_from_commit_to_a_deployment(
    plane: ControlPlane, tmp_path: Path
) -> None:
    port = free_port()
    root = example_project(tmp_path / "sentiment-lstm", "sentiment-lstm", port=port)
    first = run(plane, root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "registered sentiment-lstm v1" in first.stdout
    assert (root / "model" / "tokenizer.json").is_file()

    version = shipyard_json(plane, "models", "show", "sentiment-lstm:1")
    assert version["signature"]["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]

    texts = ["profits beat expectations", "the firm missed its targets"]
    status, answer, _ = call(port, "POST", "/v1/models/sentiment-lstm:predict",
                             {"instances": texts})  # fmt: skip
    assert status == 200, answer
    probabilities = [row[0] for row in answer["predictions"]]
    assert len(probabilities) == 2 and all(0 <= p <= 1 for p in probabilities)
    body = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                        "data": ["shares fell sharply"]}]}  # fmt: skip
    status, answer, _ = call(port, "POST", "/v2/models/sentiment-lstm/infer", body)
    assert status == 200, answer
    assert answer["outputs"][0]["shape"] == [1, 1]

    # bad input: a number where the LSTM reads text; an empty and a 100,000-character string
    status, refused, _ = call(port, "POST", "/v1/models/sentiment-lstm:predict",
                              {"instances": [3]})  # fmt: skip
    assert status == 400 and "'instances'" in refused["error"] and "BYTES" in refused["error"]
    for text in ("", "profit " * 15_000 + "x" * 10):
        status, answer, _ = call(port, "POST", "/v1/models/sentiment-lstm:predict",
                                 {"instances": [text]})  # fmt: skip
        assert status == 200, answer
        assert 0 <= answer["predictions"][0][0] <= 1

    # drift on text: words per sentence and the share the vocabulary did not know
    unknown = "zyxx qwvv plmk"
    status, _, _ = call(port, "POST", "/v1/models/sentiment-lstm:predict",
                        {"instances": [unknown]})  # fmt: skip
    assert status == 200

    def counted(feature: str) -> float:  # 2 + 1 + 2 + 1 rows answered; the number refused
        found = series(port, "shipyard_input_bin_total")
        return sum(v for k, v in found.items() if f'feature="{feature}"' in k)

    assert eventually(lambda: counted("oov_rate") == 6 and counted("words") == 6)
    bins = series(port, "shipyard_input_bin_total")
    assert {k.split('feature="')[1].split('"')[0] for k in bins} == {"words", "oov_rate"}
