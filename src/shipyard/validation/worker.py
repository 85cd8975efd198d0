"""The validation worker: run as ``python -m shipyard.validation.worker CONFIG.json``.

It runs in its own process (streamed, timed out and interrupted like any stage
command) because it imports the user's code and model libraries. It writes one
JSON result: k-fold cross-validation scores (folds in parallel processes), the
candidate's and the champion's scores on the same holdout split, the
candidate's size and single-row latency, and the holdout confusion matrix.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.validation.metrics import as_labels, is_classification, score
from shipyard.validation.report import draw_plots


def _function(spec: str) -> Any:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def holdout_split(features: Any, labels: Any, fraction: float, seed: int) -> tuple[Any, ...]:
    """The split validation scores on; ``shipyard.holdout_split`` gives training the same one."""
    from sklearn.model_selection import train_test_split

    stratify = labels if is_classification(labels) else None
    return tuple(
        train_test_split(features, labels, test_size=fraction, random_state=seed, stratify=stratify)
    )


_STATE: dict[str, Any] = {}


def _is_keras(model: Any) -> bool:
    return type(model).__module__.split(".")[0] == "keras"


def _weights(model: Any) -> str | None:
    """A digest of a network's weights (``get_weights``), to tell a fresh model from one a
    fold has trained; ``None`` for models without weights to read."""
    get = getattr(model, "get_weights", None)
    if not callable(get):
        return None
    try:
        arrays = get()
    except (AttributeError, TypeError, ValueError):  # a wrapper not built before its fit
        return None
    if arrays is None:
        return None
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _pooled_fold(task: tuple[int, Any, Any]) -> dict[str, Any]:
    """A fold in a pool process: one BLAS thread each, so processes x threads fit the cores
    (oversubscribed BLAS threads made 5 folds ten times slower on a 2-core machine)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _fold(task)


def _fold(task: tuple[int, Any, Any]) -> dict[str, Any]:
    """Fit a fresh model on one fold's training part and score its validation part.

    A Keras model is fitted with the params' ``epochs`` and ``batch_size``, after the
    seed is set, so folds are reproducible; the digests of its weights before and after
    fitting let the caller prove that no fold started from another's training.
    """
    number, train_idx, val_idx = task
    features, labels, make, metrics = (_STATE[k] for k in ("features", "labels", "make", "metrics"))
    params, seed = _STATE["params"], _STATE["seed"]
    if "keras" in sys.modules:
        keras = sys.modules["keras"]
        keras.backend.clear_session()  # the previous fold's graph and layer names go
        keras.utils.set_random_seed(seed)
    model = make()
    before = _weights(model)
    if _is_keras(model):
        model.fit(
            features[train_idx],
            labels[train_idx],
            epochs=int(params.get("epochs", 1)),
            batch_size=int(params.get("batch_size", 32)),
            verbose=0,
        )
        predicted = model.predict(features[val_idx], verbose=0)
    else:
        model.fit(features[train_idx], labels[train_idx])
        predicted = model.predict(features[val_idx])
    scores = score(metrics, labels[val_idx], as_labels(predicted, labels))
    return {"fold": number, "scores": scores, "before": before, "after": _weights(model)}


def _check_fresh(results: list[dict[str, Any]]) -> None:
    """Refuse folds where a model started from weights an earlier fold trained."""
    trained: dict[str, int] = {}
    for result in results:
        leaked = trained.get(result["before"]) if result["before"] is not None else None
        if leaked is not None:
            raise SystemExit(
                f"cross-validation: fold {result['fold'] + 1} started from the weights fold "
                f"{leaked + 1} trained: validate.fit must build a new, compiled model on every "
                "call (scores of reused weights would leak validation data into training)"
            )
        if result["after"] is not None:
            trained[result["after"]] = result["fold"]


def _cross_validate(
    config: dict[str, Any], features: Any, labels: Any, candidate: Any
) -> dict[str, Any]:
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = int(config["folds"])
    if folds < 2:
        return {}
    params = config["params"]
    if config.get("fit"):
        fit = _function(config["fit"])
        _STATE["make"] = lambda: fit(params)
    else:
        from sklearn.base import clone

        if not hasattr(candidate, "get_params"):
            raise SystemExit(
                "cross-validation: the model is not a scikit-learn estimator, so it cannot be "
                "cloned for each fold: set validate.fit to a function that builds a fresh, "
                "untrained model from params (e.g. fit: model:build_model)"
            )
        _STATE["make"] = lambda: clone(candidate)
    _STATE.update(
        features=features, labels=labels, metrics=config["metrics"], params=params,
        seed=int(config["seed"]),
    )  # fmt: skip
    splitter = (StratifiedKFold if is_classification(labels) else KFold)(
        n_splits=folds, shuffle=True, random_state=config["seed"]
    )
    tasks = [(n, t, v) for n, (t, v) in enumerate(splitter.split(features, labels))]
    processes = int(config.get("processes") or 1)
    if config.get("blas_threads"):  # benchmarks compare sequential runs with one thread too
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(config["blas_threads"]))
    started = time.perf_counter()
    if processes > 1:
        with ProcessPoolExecutor(max_workers=processes) as pool:  # fork: workers inherit _STATE
            results = list(pool.map(_pooled_fold, tasks))
    else:
        results = [_fold(task) for task in tasks]
    seconds = time.perf_counter() - started
    _check_fresh(results)
    print(f"cross-validation: {folds} folds on {processes} process(es) in {seconds:.2f} s")
    summary: dict[str, Any] = {"seconds": seconds, "processes": processes, "metrics": {}}
    for name in config["metrics"]:
        values = [r["scores"][name] for r in results]
        mean, std = statistics.fmean(values), statistics.pstdev(values)
        summary["metrics"][name] = {"mean": mean, "std": std, "folds": values}
        print(f"  {name}: {mean:.4f} ± {std:.4f}")
    summary["weights"] = [{"before": r["before"], "after": r["after"]} for r in results]
    return summary


def _latency_p95_ms(model: Any, features: Any, rounds: int = 200) -> float:
    times = []
    for i in range(rounds):
        row = features[i % len(features) : i % len(features) + 1]  # one row, any shape
        t0 = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 95) * 1000)


def _load(candidate: dict[str, Any], trusted: list[str]) -> Any:
    from shipyard.flavors import TrustPolicy, get_flavor

    trust = TrustPolicy(types=tuple(trusted))
    flavor = get_flavor(candidate["flavor"])
    return flavor.load(Path(candidate["root"]), candidate["entrypoint"], trust)


def _keep_signature(candidate: dict[str, Any], trusted: list[str], home: str) -> None:
    """Record the candidate's signature while its library is imported here, so that
    packaging and registration need not import it again (``registry.signatures``)."""
    from shipyard.flavors import TrustPolicy
    from shipyard.registry import model_content
    from shipyard.registry.signatures import inferred_signature

    flavor, entrypoint = candidate["flavor"], candidate["entrypoint"]
    try:
        root, digest = model_content(Path(candidate["source"]), flavor, entrypoint)
        inferred_signature(
            Path(home), digest, root, flavor, entrypoint, TrustPolicy(types=tuple(trusted))
        )
    except Exception:  # packaging infers it again, and says why it cannot
        return


def _champion(config: dict[str, Any]) -> tuple[Any, int] | None:
    ref = config.get("champion")
    if not ref:
        return None
    from shipyard.errors import NotFoundError
    from shipyard.flavors import TrustPolicy
    from shipyard.home import stores_for
    from shipyard.refs import parse_ref
    from shipyard.registry import resolve
    from shipyard.registry.checkout import load_version

    stores = stores_for(Path(config["home"]))
    try:
        version = resolve(stores, parse_ref(ref))
    except NotFoundError:
        return None
    finally:
        stores.close()
    stores = stores_for(Path(config["home"]))
    try:
        return load_version(
            stores, version, TrustPolicy(types=tuple(config["trust"]))
        ), version.version
    finally:
        stores.close()


def _write_reference(features: Any, path: Path, candidate: Any) -> None:
    """The inputs' reference summary (per-feature quantile bins), for drift checks; a model
    that derives its drift features (a text model's words and unknown words) gives them."""
    from shipyard.errors import InvalidInputError
    from shipyard.reference_summary import MAX_FEATURES, summarize

    derive = getattr(candidate, "drift_features", None)
    names = list(getattr(candidate, "drift_names", ())) or None
    try:
        summary = summarize(
            derive(features) if derive else features, names, where="validation inputs"
        )
    except InvalidInputError as err:  # text without a tokenizer: no summary, still validated
        print(f"no reference summary for drift checks: {err.message}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary))
    note = (
        f" (the first {MAX_FEATURES} of {summary['columns']})"
        if summary["columns"] > MAX_FEATURES
        else ""
    )
    print(f"reference summary: {len(summary['features'])} features{note}, {summary['rows']} rows")


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    sys.path.insert(0, config["project"])
    features, labels = _function(config["data"])()
    features, labels = np.asarray(features), np.asarray(labels)
    x_train, x_hold, y_train, y_hold = holdout_split(
        features, labels, config["holdout"], config["seed"]
    )
    print(f"validation data: {len(labels)} rows, holdout {len(y_hold)}")
    candidate = _load(config["candidate"], config["trust"])
    _keep_signature(config["candidate"], config["trust"], config["home"])
    if config.get("reference"):
        _write_reference(features, Path(config["reference"]), candidate)
    result: dict[str, Any] = {"rows": len(labels), "holdout_rows": len(y_hold)}
    result["cv"] = _cross_validate(config, x_train, y_train, candidate)
    predicted = as_labels(candidate.predict(x_hold), labels)
    scores = score(config["metrics"], y_hold, predicted)
    scores["size_mb"] = config["candidate"]["size_bytes"] / 1e6
    scores["latency_p95_ms"] = _latency_p95_ms(candidate, x_hold)
    result["candidate"] = scores
    if is_classification(labels):
        from sklearn.metrics import confusion_matrix

        classes = np.unique(labels)
        result["classes"] = [str(c) for c in classes]
        result["confusion"] = confusion_matrix(y_hold, predicted, labels=classes).tolist()
    champion = _champion(config)
    result["champion"] = None
    if champion is not None:
        model, number = champion
        champion_predicted = as_labels(model.predict(x_hold), labels)
        champion_scores = score(config["metrics"], y_hold, champion_predicted)
        champion_scores["latency_p95_ms"] = _latency_p95_ms(model, x_hold)
        result["champion"] = {"version": number, "metrics": champion_scores}
        print(
            f"champion v{number}: " + ", ".join(f"{k}={v:.4f}" for k, v in champion_scores.items())
        )
    print("candidate: " + ", ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    output = Path(config["output"])
    output.write_text(json.dumps(result, indent=2))
    draw_plots(result, output.parent)


if __name__ == "__main__":
    main(sys.argv[1])
