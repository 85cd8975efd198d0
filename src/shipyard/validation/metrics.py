"""The metrics validation knows by name, computed from labels and predictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Lower is better for these; every other metric is higher-is-better.
LOWER_IS_BETTER = frozenset({"mae", "rmse", "latency_p95_ms", "size_mb"})
# Measured on the model itself rather than computed from predictions.
MEASURED = ("latency_p95_ms", "size_mb")


def _metric_functions() -> dict[str, Callable[[Any, Any], float]]:
    from sklearn import metrics as m

    return {
        "accuracy": lambda y, p: float(m.accuracy_score(y, p)),
        "balanced_accuracy": lambda y, p: float(m.balanced_accuracy_score(y, p)),
        "f1_macro": lambda y, p: float(m.f1_score(y, p, average="macro")),
        "f1": lambda y, p: float(m.f1_score(y, p)),
        "precision_macro": lambda y, p: float(
            m.precision_score(y, p, average="macro", zero_division=0)
        ),
        "recall_macro": lambda y, p: float(m.recall_score(y, p, average="macro", zero_division=0)),
        "r2": lambda y, p: float(m.r2_score(y, p)),
        "mae": lambda y, p: float(m.mean_absolute_error(y, p)),
        "rmse": lambda y, p: float(m.root_mean_squared_error(y, p)),
    }


PREDICTION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1",
    "precision_macro",
    "recall_macro",
    "r2",
    "mae",
    "rmse",
)
KNOWN = PREDICTION_METRICS + MEASURED


def score(names: list[str], labels: Any, predictions: Any) -> dict[str, float]:
    """Each named prediction metric for these labels and predictions."""
    functions = _metric_functions()
    return {name: functions[name](labels, predictions) for name in names}
