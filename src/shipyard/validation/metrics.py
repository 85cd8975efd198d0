"""The metrics validation knows by name, computed from labels and predictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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


def score(names: list[str], labels: Any, predictions: Any) -> dict[str, float]:
    """Each named prediction metric for these labels and predictions."""
    functions = _metric_functions()
    return {name: functions[name](labels, predictions) for name in names}


def is_classification(labels: Any) -> bool:
    """Integer, boolean or string labels with few distinct values: a classification task."""
    import numpy as np

    kind = np.asarray(labels).dtype.kind
    return kind in "biuOUS" and len(np.unique(labels)) <= max(50, len(labels) // 20)


def as_labels(predicted: Any, labels: Any) -> Any:
    """A classifier's scores as the labels they stand for, so metrics compare like with like.

    Neural networks answer with scores: one column per class (logits or probabilities)
    becomes the class of the highest, one probability column of a two-class task becomes
    the second class where it is above 0.5. Labels already, and regressions, pass as they are.
    """
    import numpy as np

    scores = np.asarray(predicted)
    if scores.dtype.kind != "f" or not is_classification(labels):
        return scores
    classes = np.unique(labels)
    if scores.ndim == 2 and scores.shape[1] == len(classes) > 1:
        return classes[np.argmax(scores, axis=1)]
    column = scores.reshape(-1) if scores.ndim == 2 and scores.shape[1] == 1 else scores
    if column.ndim == 1 and len(classes) == 2 and ((column >= 0) & (column <= 1)).all():
        return classes[(column > 0.5).astype(np.intp)]
    return scores
