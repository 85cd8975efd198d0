"""Keras in Shipyard, piece by piece: per-fold freshness in cross-validation, per-epoch
metrics, saving, text models that take strings, a file from a newer Keras, and class scores
read as labels."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shipyard
from conftest import Result
from shipyard import tracking
from shipyard.errors import InvalidInputError
from shipyard.flavors import get_flavor
from shipyard.flavors.base import TrustPolicy
from shipyard.keras import MetricsCallback, keras
from shipyard.pipeline.delivery import _close
from shipyard.serving.feedback import _values
from shipyard.serving.supervisor import THREAD_ENV, thread_limits
from shipyard.text import Tokenizer
from shipyard.validation import worker
from shipyard.validation.metrics import as_labels


def small_net(params: dict[str, Any]) -> Any:
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    return (rng.normal(size=(120, 4)) + labels[:, None] * 2).astype(np.float32), labels


def cross_validate(fit: str) -> dict[str, Any]:
    features, labels = blobs()
    config = {
        "folds": 3, "fit": fit, "params": {"epochs": 10, "batch_size": 16}, "seed": 0,
        "metrics": ["accuracy"], "processes": 1,
    }  # fmt: skip
    return worker._cross_validate(config, features, labels, candidate=None)


_SHARED: list[Any] = []


def leaky_net(params: dict[str, Any]) -> Any:
    """The mistake the check exists for: one model, handed out again for every fold."""
    if not _SHARED:
        _SHARED.append(small_net(params))
    return _SHARED[0]


def test_each_fold_trains_a_fresh_keras_model_and_a_reused_one_is_refused() -> None:
    fresh = cross_validate(f"{__name__}:small_net")
    weights = fresh["weights"]
    assert len(weights) == 3
    trained = {w["after"] for w in weights}
    # no fold started from weights any fold had trained, and each fold trained them
    assert not {w["before"] for w in weights} & trained
    assert all(w["before"] != w["after"] for w in weights)
    # seeded: every fold starts from the same initial weights
    assert len({w["before"] for w in weights}) == 1
    assert fresh["metrics"]["accuracy"]["mean"] > 0.8

    _SHARED.clear()
    with pytest.raises(SystemExit, match="fold 2 started from the weights fold 1 trained"):
        cross_validate(f"{__name__}:leaky_net")


def test_without_fit_a_keras_candidate_asks_for_one() -> None:
    features, labels = blobs()
    config = {"folds": 3, "fit": None, "params": {}, "seed": 0, "metrics": ["accuracy"]}
    with pytest.raises(SystemExit, match=r"set validate\.fit"):
        worker._cross_validate(config, features, labels, candidate=object())


def test_the_metrics_callback_logs_each_epoch_as_a_step_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tracking.RUN_DIR_ENV, str(tmp_path))
    features, labels = blobs()
    keras.utils.set_random_seed(0)
    small_net({}).fit(features, labels, epochs=3, verbose=0, callbacks=[MetricsCallback()])
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2, 3]
    assert set(history[0]) == {"step", "train.loss", "train.accuracy"}
    assert history[2]["train.loss"] < history[0]["train.loss"]
    merged: dict[str, float] = {}
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        merged.update(json.loads(line))
    assert merged == {k: v for k, v in history[-1].items() if k != "step"}  # the last epoch


def test_save_model_writes_a_keras_file_and_refuses_another_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = small_net({})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(tracking.MODEL_PATH_ENV, raising=False)
    assert shipyard.save_model(model) == Path("model.keras")  # outside a run: its own default
    assert zipfile.is_zipfile(tmp_path / "model.keras")
    assert shipyard.save_model(model, tmp_path / "net.keras") == tmp_path / "net.keras"
    assert shipyard.save_model(model, tmp_path / "model") == tmp_path / "model" / "model.keras"
    assert zipfile.is_zipfile(tmp_path / "model" / "model.keras")
    with pytest.raises(ValueError, match=r"\.keras file, not net\.skops"):
        shipyard.save_model(model, tmp_path / "net.skops")
    assert not (tmp_path / "net.skops").exists()


def test_a_tokenizer_beside_the_model_makes_it_take_strings(tmp_path: Path) -> None:
    texts = ["profits rose", "profits fell", "shares rose sharply", "losses grew"]
    tokenizer = Tokenizer.fit(texts, length=4)
    assert tokenizer.vocabulary[:2] == ("profits", "rose")  # most frequent first
    assert tokenizer.encode(["profits rose again", ""]).tolist() == [[2, 3, 1, 0], [0, 0, 0, 0]]
    assert tokenizer.stats(["profits rose again", ""]).tolist() == [[3, 1 / 3], [0, 0]]
    assert Tokenizer.load(tokenizer.save(tmp_path / "model")) == tokenizer

    model = keras.Sequential(
        [keras.Input((4,), dtype="int32"), keras.layers.Embedding(tokenizer.size, 4),
         keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    shipyard.save_model(model, tmp_path / "model")
    flavor = get_flavor("keras")
    entry = flavor.detect(tmp_path / "model")
    assert entry == "model.keras"
    signature = flavor.signature(tmp_path / "model", entry, TrustPolicy())
    assert signature is not None
    assert [(t.name, t.datatype, t.shape) for t in signature.inputs] == [("text", "BYTES", (-1,))]
    loaded = flavor.load(tmp_path / "model", entry, TrustPolicy())
    strings = np.array(["profits rose", "losses grew"], dtype=object)
    expected = model.predict_on_batch(tokenizer.encode(strings))
    np.testing.assert_allclose(loaded.predict(strings), expected, rtol=1e-6)
    # a megabyte of text reads as its first words: answered like a sentence
    long = np.array(["profits rose " + "x" * 1_000_000], dtype=object)
    assert loaded.predict(long).shape == (1, 1)


def test_a_broken_tokenizer_file_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"format": "other"}')
    with pytest.raises(InvalidInputError, match="not a Shipyard tokenizer"):
        Tokenizer.load(tmp_path / "tokenizer.json")


def test_a_file_saved_by_a_newer_keras_is_refused_naming_both_versions(
    cli: Callable[..., Result], tmp_path: Path, home: Path
) -> None:
    saved = tmp_path / "saved.keras"
    small_net({}).save(saved)
    newer = tmp_path / "newer.keras"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(newer, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "metadata.json":
                data = json.dumps({**json.loads(data), "keras_version": "9.0.0"}).encode()
            target.writestr(item, data)
    said = f"saved by Keras 9.0.0, newer than this Keras {keras.__version__}"
    # the registry keeps it (another machine may serve it), saying why it has no signature
    done = cli("register", str(newer), "--name", "future")
    assert done.code == 0 and said in done.err
    # where it would be served, it is refused by name, before Keras fails inside
    with pytest.raises(InvalidInputError, match=re.escape(said)) as refused:
        shipyard.load_model("future:1", home=home)
    assert refused.value.hint is not None and "keras>=9.0.0" in refused.value.hint


def test_class_scores_are_read_as_the_class_they_name() -> None:
    labels = np.array([0, 1, 2, 1])
    logits = np.array([[3.0, 0.1, -1], [0, 2, 1], [0, 0, 5], [1, 4, 0]])
    assert as_labels(logits, labels).tolist() == [0, 1, 2, 1]
    binary = np.array([0, 1, 1, 0])
    assert as_labels(np.array([[0.2], [0.9], [0.6], [0.4]]), binary).tolist() == [0, 1, 1, 0]
    regression = np.array([0.5, 1.5, 2.5, 3.5])
    assert as_labels(np.array([0.4, 1.6, 2.4, 3.6]), regression).tolist() == [0.4, 1.6, 2.4, 3.6]
    # smoke checks and feedback read one row of scores as its class too
    assert _close([[0.1, 2.5, -1.0]], [1], 0.0) and not _close([[0.1, 2.5, -1.0]], [0], 0.0)
    assert _close([[0.93]], [1], 0.0) and not _close([[0.93]], [0], 0.0)
    assert _values([[0.1, 2.5, -1.0], [4.0, 0.0, 1.0]]) == [1, 0]
    assert _values([[0.93]]) == [0.93]  # one probability: a number, as for a regression


def test_workers_share_the_cores_between_their_thread_pools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    limits = thread_limits(2)
    assert {limits[name] for name in THREAD_ENV} == {"4"}
    assert thread_limits(16)["OMP_NUM_THREADS"] == "1"
    assert limits["TF_NUM_INTEROP_THREADS"] == "1"


def test_the_keras_backend_enters_every_stage_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.pipeline.runner import environment

    monkeypatch.setenv("KERAS_BACKEND", "torch")
    on_torch = environment()
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert environment() != on_torch
    assert on_torch["keras_backend"] == "torch"
