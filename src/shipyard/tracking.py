"""The tiny tracking API for training code run by ``shipyard run``.

``log_metric``, ``log_metrics``, ``log_params`` and ``save_model`` write into the
run's directory (``$SHIPYARD_RUN_DIR``), which the pipeline reads when the
command ends. Outside a run they only warn, so the same script also runs alone.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

RUN_DIR_ENV = "SHIPYARD_RUN_DIR"
MODEL_PATH_ENV = "SHIPYARD_MODEL_PATH"
METRICS_FILE = "metrics.jsonl"
PARAMS_FILE = "params.jsonl"
_warned = False


def _append(name: str, record: dict[str, Any]) -> None:
    global _warned
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        if not _warned:
            print(
                "shipyard: not inside `shipyard run`; metrics and params are not recorded",
                file=sys.stderr,
            )
            _warned = True
        return
    with (Path(run_dir) / name).open("a") as f:
        f.write(json.dumps(record) + "\n")


def log_metric(name: str, value: float) -> None:
    """Record one metric of the model being trained."""
    log_metrics({name: value})


def log_metrics(metrics: dict[str, float]) -> None:
    """Record several metrics at once."""
    _append(METRICS_FILE, {str(k): float(v) for k, v in metrics.items()})


def log_params(params: dict[str, Any]) -> None:
    """Record hyper-parameters chosen in code (beside those from shipyard.yaml)."""
    _append(PARAMS_FILE, {str(k): v for k, v in params.items()})


def save_model(model: Any, path: str | Path | None = None) -> Path:
    """Save a model where the project expects it, in a safe format for its library.

    scikit-learn estimators are written with skops, ``torch.export`` programs with
    ``torch.export.save``. The default path is the spec's ``model.path``.
    """
    target = Path(path or os.environ.get(MODEL_PATH_ENV) or "model.skops")
    target.parent.mkdir(parents=True, exist_ok=True)
    kind = type(model).__module__.split(".")[0]
    if kind == "sklearn" or hasattr(model, "get_params"):
        import skops.io

        skops.io.dump(model, target)
    elif kind == "torch":
        import torch

        torch.export.save(model, target)
    else:
        raise TypeError(
            f"save_model does not know how to save a {type(model).__qualname__}; save it "
            f"yourself to {target} (skops, ONNX or torch.export)"
        )
    return target
