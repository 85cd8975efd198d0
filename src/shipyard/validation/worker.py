"""The validation worker: run as ``python -m shipyard.validation.worker CONFIG.json``.

It runs in its own process (streamed, timed out and interrupted like any stage
command) because it imports the user's code and model libraries. It writes one
JSON result: k-fold cross-validation scores (folds in parallel processes), the
candidate's and the champion's scores on the same holdout split, the
candidate's size and single-row latency, and the holdout confusion matrix.
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.validation.metrics import score
from shipyard.validation.report import draw_plots


def _function(spec: str) -> Any:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def is_classification(labels: Any) -> bool:
    """Integer, boolean or string labels with few distinct values: a classification task."""
    kind = np.asarray(labels).dtype.kind
    return kind in "biuOUS" and len(np.unique(labels)) <= max(50, len(labels) // 20)


def holdout_split(features: Any, labels: Any, fraction: float, seed: int) -> tuple[Any, ...]:
    """The split validation scores on; ``shipyard.holdout_split`` gives training the same one."""
    from sklearn.model_selection import train_test_split

    stratify = labels if is_classification(labels) else None
    return tuple(
        train_test_split(features, labels, test_size=fraction, random_state=seed, stratify=stratify)
    )


_STATE: dict[str, Any] = {}


def _pooled_fold(task: tuple[Any, Any]) -> dict[str, float]:
    """A fold in a pool process: one BLAS thread each, so processes x threads fit the cores
    (oversubscribed BLAS threads made 5 folds ten times slower on a 2-core machine)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _fold(task)


def _fold(task: tuple[Any, Any]) -> dict[str, float]:
    """Fit a fresh estimator on one fold's training part and score its validation part."""
    train_idx, val_idx = task
    features, labels, make, metrics = (_STATE[k] for k in ("features", "labels", "make", "metrics"))
    model = make()
    model.fit(features[train_idx], labels[train_idx])
    return score(metrics, labels[val_idx], model.predict(features[val_idx]))


def _cross_validate(
    config: dict[str, Any], features: Any, labels: Any, candidate: Any
) -> dict[str, Any]:
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = int(config["folds"])
    if folds < 2:
        return {}
    if config.get("fit"):
        fit = _function(config["fit"])
        params = config["params"]
        _STATE["make"] = lambda: fit(params)
    else:
        _STATE["make"] = lambda: clone(candidate)
    _STATE.update(features=features, labels=labels, metrics=config["metrics"])
    splitter = (StratifiedKFold if is_classification(labels) else KFold)(
        n_splits=folds, shuffle=True, random_state=config["seed"]
    )
    tasks = list(splitter.split(features, labels))
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
    print(f"cross-validation: {folds} folds on {processes} process(es) in {seconds:.2f} s")
    summary: dict[str, Any] = {"seconds": seconds, "processes": processes, "metrics": {}}
    for name in config["metrics"]:
        values = [r[name] for r in results]
        mean, std = statistics.fmean(values), statistics.pstdev(values)
        summary["metrics"][name] = {"mean": mean, "std": std, "folds": values}
        print(f"  {name}: {mean:.4f} ± {std:.4f}")
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


def _write_reference(features: Any, path: Path) -> None:
    """The inputs' reference summary (per-feature quantile bins), for drift checks."""
    from shipyard.errors import InvalidInputError
    from shipyard.monitor.reference import MAX_FEATURES, summarize

    try:
        summary = summarize(features, where="validation inputs")
    except InvalidInputError as err:  # text or images: no per-feature summary, still validated
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
    if config.get("reference"):
        _write_reference(features, Path(config["reference"]))
    candidate = _load(config["candidate"], config["trust"])
    result: dict[str, Any] = {"rows": len(labels), "holdout_rows": len(y_hold)}
    result["cv"] = _cross_validate(config, x_train, y_train, candidate)
    predicted = np.asarray(candidate.predict(x_hold))
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
        champion_scores = score(config["metrics"], y_hold, np.asarray(model.predict(x_hold)))
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
