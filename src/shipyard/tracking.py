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
HISTORY_FILE = "history.jsonl"  # metrics logged with a step (an epoch): one line per step
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


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record one metric of the model being trained (at ``step``, e.g. an epoch)."""
    log_metrics({name: value}, step=step)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Record several metrics at once.

    With ``step`` (an epoch, counted from 1) they also join the run's history, which
    ``shipyard runs show`` prints step by step; the run's metrics keep the last value.
    """
    values = {str(k): float(v) for k, v in metrics.items()}
    if step is not None:
        _append(HISTORY_FILE, {"step": int(step), **values})
    _append(METRICS_FILE, values)


def log_params(params: dict[str, Any]) -> None:
    """Record hyper-parameters chosen in code (beside those from shipyard.yaml)."""
    _append(PARAMS_FILE, {str(k): v for k, v in params.items()})


def save_model(model: Any, path: str | Path | None = None) -> Path:
    """Save a model where the project expects it, in a safe format for its library.

    scikit-learn estimators are written with skops, ``torch.export`` programs with
    ``torch.export.save``, Keras models as ``.keras`` files (``model.save``). The default
    path is the spec's ``model.path`` inside a run, else ``model.skops`` (``model.keras``
    for a Keras model); a Keras model's path must end in ``.keras``, or name a directory,
    which gets ``model.keras``.
    """
    kind = type(model).__module__.split(".")[0]
    default = "model.keras" if kind == "keras" else "model.skops"
    target = Path(path or os.environ.get(MODEL_PATH_ENV) or default)
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "keras":
        return _save_keras(model, target)
    if kind == "sklearn" or hasattr(model, "get_params"):
        from shipyard.flavors.skops_import import skops_io

        skops_io().dump(model, target)
    elif kind == "torch":
        import torch

        torch.export.save(model, target)
    else:
        raise TypeError(
            f"save_model does not know how to save a {type(model).__qualname__}; save it "
            f"yourself to {target} (skops, ONNX, torch.export or .keras)"
        )
    return target


def _save_keras(model: Any, target: Path) -> Path:
    if target.suffix != ".keras":
        if target.suffix:
            raise ValueError(
                f"a Keras model is saved as a .keras file, not {target.name}: set model.path "
                "to a name ending in .keras (or a directory) in shipyard.yaml"
            )
        target = target / "model.keras"
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target)
    return target
