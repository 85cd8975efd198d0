"""Feedback over HTTP: labels joined to logged predictions, counted per version, across workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_digits

from deploy_helpers import echo_home
from test_serving import start
from test_serving_input_bins import digits_versions


def feedback(url: str, body: Any, protocol: str = "v2", model: str = "digits") -> httpx.Response:
    return httpx.post(f"{url}/{protocol}/models/{model}/feedback", json=body)


def counters(url: str) -> dict[tuple[str, str], float]:
    """``shipyard_feedback_total`` by (version, outcome), and the absolute error by
    (version, "absolute_error")."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == "shipyard_feedback_total":
                found[(sample.labels["version"], sample.labels["outcome"])] = sample.value
            elif sample.name == "shipyard_feedback_absolute_error_total":
                found[(sample.labels["version"], "absolute_error")] = sample.value
    return found


def predict(url: str, rows: np.ndarray, version: str) -> str:
    """One V1 request pinned to ``version``; its request id."""
    answer = httpx.post(
        f"{url}/v1/models/digits:predict",
        json={"instances": rows.tolist()},
        headers={"x-shipyard-version": version},
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-request-id"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = digits_versions(tmp_path_factory.mktemp("feedback"))
    proc, url = start(home, "digits", "--weights", "1=100,2=0", "--workers", "2")
    features, labels = load_digits(return_X_y=True)
    yield {"url": url, "features": features, "labels": labels}
    proc.terminate()
    proc.wait(timeout=30)


def test_correct_and_wrong_labels_move_their_version_counters_once(
    digits: dict[str, Any],
) -> None:
    url, features, labels = digits["url"], digits["features"], digits["labels"]
    before = counters(url)
    assert {("1", "correct"), ("1", "wrong"), ("2", "correct"), ("2", "wrong")} <= before.keys()
    first = predict(url, features[:1], "1")
    done = feedback(url, {"request_id": first, "label": int(labels[0])})
    assert done.status_code == 200, done.text
    assert done.json() == {"request_id": first, "version": "1", "correct": True}
    second = predict(url, features[1:4], "2")
    wrong = [int(labels[1]), (int(labels[2]) + 1) % 10, (int(labels[3]) + 1) % 10]
    done = feedback(url, {"request_id": second, "label": wrong}, protocol="v1")
    assert done.status_code == 200, done.text
    assert done.json() == {"request_id": second, "version": "2", "correct": [True, False, False]}

    again = feedback(url, {"request_id": first, "label": int(labels[0])})
    assert again.status_code == 409
    assert "already given" in again.json()["error"]
    after = counters(url)
    moved = {key: after[key] - before.get(key, 0) for key in after}
    assert moved[("1", "correct")] == 1 and moved[("1", "wrong")] == 0
    assert moved[("2", "correct")] == 1 and moved[("2", "wrong")] == 2


def test_feedback_right_after_the_answer_finds_predictions_of_the_other_worker(
    digits: dict[str, Any],
) -> None:
    url, features, labels = digits["url"], digits["features"], digits["labels"]
    crossed = 0
    for row in range(40):
        rid = predict(url, features[row : row + 1], "1")
        done = feedback(url, {"request_id": rid, "label": int(labels[row])})
        assert done.status_code == 200, done.text
        # ids start with a per-process prefix: which worker answered which request
        crossed += rid[:16] != done.headers["x-request-id"][:16]
    assert crossed > 0


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"request_id": "0" * 32, "label": 1}, 404, "unknown, or it expired"),
        ({"label": 1}, 400, "missing 'request_id'"),
        ({"request_id": "x"}, 400, "missing 'label'"),
        ([1, 2], 400, "expected a JSON object"),
        ({"request_id": "PREDICTED", "label": {"class": 1}}, 400, "expected a class label"),
        ({"request_id": "PREDICTED", "label": 1.5}, 400, "expected a class label"),
        ({"request_id": "PREDICTED", "label": [1, 2]}, 400, "expected 1 label(s)"),
    ],
)
def test_bad_feedback_is_a_clear_4xx(
    digits: dict[str, Any], body: Any, status: int, says: str
) -> None:
    url = digits["url"]
    if isinstance(body, dict) and body.get("request_id") == "PREDICTED":
        body = {**body, "request_id": predict(url, digits["features"][:1], "1")}
    started = time.monotonic()
    answer = feedback(url, body)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["error"]
    assert time.monotonic() - started < 3


def test_feedback_for_another_model_or_malformed_json_is_refused(digits: dict[str, Any]) -> None:
    url = digits["url"]
    other = feedback(url, {"request_id": "x", "label": 1}, model="iris")
    assert other.status_code == 404 and "unknown model 'iris'" in other.json()["error"]
    broken = httpx.post(f"{url}/v2/models/digits/feedback", content=b"{nope")
    assert broken.status_code == 400 and "malformed JSON" in broken.json()["error"]
    assert httpx.get(f"{url}/v2/models/digits/feedback").status_code == 405


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A regression model (``echo`` v2 answers 2.0 for every row) keeping predictions 1 s."""
    home = echo_home(tmp_path_factory.mktemp("regression"))
    proc, url = start(home, "echo:2", "--prediction-retention", "1s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def echo_predict(url: str, rows: int) -> str:
    answer = httpx.post(f"{url}/v1/models/echo:predict", json={"instances": [[0.0]] * rows})
    assert answer.status_code == 200, answer.text
    return answer.headers["x-request-id"]


def test_regression_feedback_is_scored_with_its_absolute_error(echo: str) -> None:
    before = counters(echo)
    assert ("2", "scored") in before and ("2", "absolute_error") in before
    rid = echo_predict(echo, 2)
    done = feedback(echo, {"request_id": rid, "label": [2.5, 1]}, model="echo")
    assert done.status_code == 200, done.text
    assert done.json() == {"request_id": rid, "version": "2", "absolute_error": [0.5, 1.0]}
    after = counters(echo)
    assert after[("2", "scored")] - before[("2", "scored")] == 2
    assert after[("2", "absolute_error")] - before[("2", "absolute_error")] == 1.5
    assert ("2", "correct") not in after


def test_a_string_label_for_a_regression_says_a_number_was_expected(echo: str) -> None:
    rid = echo_predict(echo, 1)
    answer = feedback(echo, {"request_id": rid, "label": "high"}, model="echo")
    assert answer.status_code == 400
    assert "expected a number" in answer.json()["error"]


def test_feedback_past_the_retention_is_refused_as_expired(echo: str) -> None:
    rid = echo_predict(echo, 1)
    time.sleep(1.5)
    answer = feedback(echo, {"request_id": rid, "label": 2.0}, model="echo")
    assert answer.status_code == 404
    assert "has expired" in answer.json()["error"]


def test_the_prediction_log_lives_under_the_home_per_deployment(tmp_path: Path) -> None:
    home = echo_home(tmp_path)
    proc, url = start(home, "echo:1", "--deployment", "echo-prod")
    try:
        echo_predict(url, 1)
        deadline = time.monotonic() + 5
        log = home / "predictions" / "echo-prod.sqlite"
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log.exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
