"""Reference summaries: per-feature quantile bins of a version's inputs, kept with the version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from conftest import Result
from shipyard.errors import InvalidInputError
from shipyard.reference_summary import MAX_FEATURES, read_inputs, summarize
from shipyard.refs import parse_ref
from shipyard.registry import RegisterOptions, reference_of, register, resolve
from shipyard.signature import Signature, TensorSpec
from shipyard.store import Stores, open_stores
from shipyard.tags import REFERENCE_TAG


def test_summary_has_decile_bins_fewer_for_mostly_zero_features_one_for_constant_ones() -> None:
    features, _ = load_digits(return_X_y=True)
    summary = summarize(features)
    assert summary["format"] == 1 and summary["rows"] == 1797 and summary["columns"] == 64
    by_name = {f["name"]: f for f in summary["features"]}
    assert len(by_name) == 64
    assert by_name["0"]["edges"] == [] and by_name["0"]["ratios"] == [1.0]  # always 0
    mostly_zero = by_name["1"]  # the second pixel of the top row is 0 in half the images
    assert 1 <= len(mostly_zero["edges"]) < 9
    assert mostly_zero["ratios"][0] > 0.4  # zeros stay together in bin 0
    for feature in summary["features"]:
        assert len(feature["ratios"]) == len(feature["edges"]) + 1 <= 10
        assert abs(sum(feature["ratios"]) - 1) < 1e-9
        assert min(feature["ratios"]) > 0  # no bin of the reference is empty
    normal = summarize(np.random.default_rng(0).normal(size=(10_000, 2)))
    assert all(abs(r - 0.1) < 0.005 for r in normal["features"][0]["ratios"])
    assert json.loads(json.dumps(summary)) == summary  # plain JSON


def test_summary_keeps_the_first_256_features_and_says_how_many_there_were() -> None:
    summary = summarize(np.random.default_rng(1).random((50, 300)))
    assert summary["columns"] == 300
    assert len(summary["features"]) == MAX_FEATURES
    assert summary["features"][-1]["name"] == str(MAX_FEATURES - 1)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("one.npy", np.arange(10.0), "expected a 2-D array"),
        ("text.npy", np.array([["a", "b"], ["c", "d"]]), "expected numbers"),
        ("ragged.csv", "1,2,3\n4,5\n", "expected a CSV of numbers"),
        ("words.csv", "a,b\nx,y\n", "expected a CSV of numbers"),
        ("empty.csv", "", "expected a 2-D array"),
        ("inputs.txt", "1 2 3\n", "must be a .npy or a .csv"),
    ],
)
def test_a_reference_file_that_is_not_2d_numeric_is_a_clear_error(
    tmp_path: Path, name: str, content: object, says: str
) -> None:
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(str(content))
    with pytest.raises(InvalidInputError, match=says):
        summarize(read_inputs(path))


def test_csv_with_a_header_row_reads_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("width,height\n1,2\n3,4\n5,6\n")
    summary = summarize(read_inputs(path))
    assert summary["rows"] == 3 and summary["columns"] == 2


def test_signature_columns_name_the_features(stores: Stores, tmp_path: Path) -> None:
    signature = Signature(
        (TensorSpec("width", "FP64", (-1, 1)), TensorSpec("height", "FP64", (-1, 1))),
        (TensorSpec("y", "FP64", (-1,)),),
    )
    options = RegisterOptions(
        flavor="custom",
        entrypoint="model:M",
        signature=signature,
        reference=summarize(np.random.default_rng(2).random((20, 2))),
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text("class M: ...\n")
    version = register(stores, tmp_path / "src", "sized", options).version
    reference = reference_of(stores, version)
    assert reference is not None
    assert [f["name"] for f in reference["features"]] == ["width", "height"]


def _digits_model(tmp_path: Path) -> tuple[Path, np.ndarray]:
    features, labels = load_digits(return_X_y=True)
    path = tmp_path / "model.skops"
    skops.io.dump(LogisticRegression(max_iter=300).fit(features, labels), path)
    return path, features


def test_register_reference_file_keeps_a_summary_with_the_version_outside_its_digest(
    cli: Callable[..., Result], home: Path, tmp_path: Path
) -> None:
    model, features = _digits_model(tmp_path)
    np.save(tmp_path / "inputs.npy", features[:500])
    inputs = str(tmp_path / "inputs.npy")
    done = cli("register", str(model), "--name", "digits", "--reference", inputs, "--json")
    assert done.code == 0, done.err
    registered = json.loads(done.out)
    assert registered["tags"][REFERENCE_TAG].startswith("sha256:")
    stores = open_stores(home)
    try:
        version = resolve(stores, parse_ref("digits:1"))
        reference = reference_of(stores, version)
        assert reference is not None and reference["rows"] == 500 and reference["columns"] == 64
        plain = register(stores, model, "plain", RegisterOptions()).version
        assert plain.content_digest == version.content_digest  # the summary is not the model
    finally:
        stores.close()
    assert cli("models", "verify", "digits", "1").code == 0

    bad = tmp_path / "bad.npy"
    np.save(bad, np.arange(5.0))
    refused = cli("register", str(model), "--name", "other", "--reference", str(bad))
    assert refused.code == 2
    assert "expected a 2-D array" in refused.err
    assert "Traceback" not in refused.err
