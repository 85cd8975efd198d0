"""Drift counting in the model server: live inputs into the reference's bins, per version."""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import skops.io
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from shipyard.reference_summary import summarize
from shipyard.registry import RegisterOptions, register
from shipyard.serving.input_bins import InputBins
from shipyard.store import open_stores
from test_serving import start

Bins = dict[tuple[str, str], dict[str, float]]  # (version, feature) -> bin -> value


def digits_versions(tmp: Path, count: int = 2) -> Path:
    """A home holding ``digits`` v1 … vN, each registered with the digits inputs' summary."""
    features, labels = load_digits(return_X_y=True)
    home = tmp / "home"
    stores = open_stores(home)
    reference = summarize(features)
    for number in range(1, count + 1):
        path = tmp / f"model-{number}.skops"
        model = LogisticRegression(C=1.0 / number, max_iter=500).fit(features, labels)
        skops.io.dump(model, path)
        options = RegisterOptions(reference=reference)
        assert register(stores, path, "digits", options).version.version == number
    stores.close()
    return home


def series(url: str, name: str) -> Bins:
    """One labelled family from ``/metrics``, by version and feature."""
    found: Bins = defaultdict(dict)
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                labels = sample.labels
                found[(labels["version"], labels["feature"])][labels["bin"]] = sample.value
    return found


def psi(live: dict[str, float], reference: dict[str, float]) -> float:
    """The population stability index as the alert rules compute it (shares floored)."""
    rows = sum(live.values())
    total = 0.0
    for number, ref in reference.items():
        share = live.get(number, 0.0) / rows
        total += (share - ref) * math.log(max(share, 1e-4) / max(ref, 1e-4))
    return total


def worst_psi(url: str, version: str) -> float:
    counts = series(url, "shipyard_input_bin_total")
    ratios = series(url, "shipyard_input_reference_ratio")
    return max(psi(counts[key], ratios[key]) for key in counts if key[0] == version)


def rows_counted(url: str, version: str) -> float:
    counts = series(url, "shipyard_input_bin_total")
    return sum(counts[(version, "10")].values())


def infer(url: str, version: str, rows: np.ndarray) -> None:
    tensor = {"name": "input-0", "shape": list(rows.shape), "datatype": "FP32"}
    body = {"inputs": [{**tensor, "data": rows.ravel().tolist()}]}
    answer = httpx.post(f"{url}/v2/models/digits/versions/{version}/infer", json=body)
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = digits_versions(tmp_path_factory.mktemp("drift"))
    proc, url = start(home, "digits", "--weights", "1=100,2=0", "--workers", "2")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_every_bin_series_exists_from_load_with_the_reference_shares(server: str) -> None:
    features, _ = load_digits(return_X_y=True)
    reference = {f["name"]: f for f in summarize(features)["features"]}
    ratios = series(server, "shipyard_input_reference_ratio")
    counts = series(server, "shipyard_input_bin_total")
    for version in ("1", "2"):
        for name, feature in reference.items():
            if not feature["edges"]:  # constant in the reference: cannot drift, not counted
                assert (version, name) not in counts
                continue
            expected = {str(i): r for i, r in enumerate(feature["ratios"])}
            assert ratios[(version, name)] == pytest.approx(expected)
            assert set(counts[(version, name)]) == set(expected)


def test_inputs_like_the_reference_give_near_zero_psi_and_shifted_ones_a_large_one_per_version(
    server: str,
) -> None:
    features, _ = load_digits(return_X_y=True)
    rng = np.random.default_rng(7)
    like = features[rng.integers(0, len(features), 800)].astype(np.float32)
    shifted = np.clip(features[rng.integers(0, len(features), 800)] * 0.5 + 4, 0, 16)
    for start_row in range(0, 800, 40):
        infer(server, "1", like[start_row : start_row + 40])
        infer(server, "2", shifted[start_row : start_row + 40].astype(np.float32))
    deadline = time.monotonic() + 3  # flushed within about a second, with no more traffic
    while time.monotonic() < deadline and (
        rows_counted(server, "1") < 800 or rows_counted(server, "2") < 800
    ):
        time.sleep(0.1)
    assert rows_counted(server, "1") == 800 and rows_counted(server, "2") == 800
    assert worst_psi(server, "1") < 0.1
    assert worst_psi(server, "2") > 0.2


def test_inputs_that_do_not_match_the_reference_are_answered_and_not_counted() -> None:
    features, _ = load_digits(return_X_y=True)
    labels = {"deployment": "d", "model": "m", "version": "9"}
    bins = InputBins(summarize(features[:, :3]), labels)

    async def observe() -> None:
        for inputs in (
            features[:5],  # 64 columns, not 3
            features[:5, :3].ravel(),  # 1-D
            np.array([["a", "b", "c"]]),  # not numbers
            {"x": features[:5, :3]},  # named tensors
            [[1.0, 2.0, 3.0]],  # not an array
        ):
            bins.observe(inputs)
        bins.flush()
        assert counted() == 0
        bins.observe(features[:5, :3])
        bins.observe(features[5:7, :3].astype(np.float32))
        bins.close()
        assert counted() == 7

    def counted() -> float:
        return sum(
            REGISTRY.get_sample_value(
                "shipyard_input_bin_total", {**labels, "feature": "2", "bin": str(number)}
            )
            or 0.0
            for number in range(10)
        )

    asyncio.run(observe())
