"""A classifier that answers with scores, one number per class (logits or probabilities),
names the class with the highest, and one probability of a two-class model names class 1
above 0.5: smoke checks compare that class with the label expected, live feedback the
first kind only (one number may be a regression's). Validation does the same over whole
arrays: ``validation.metrics.as_labels``.
"""

from __future__ import annotations

from typing import Any


def class_of(row: Any, *, probability: bool = False) -> int | None:
    """The index of the highest of a row of two or more scores; with ``probability``, also
    a row of one probability (above 0.5: class 1); ``None`` for anything else."""
    if probability and isinstance(row, list) and len(row) == 1:
        value = row[0]
        return int(value > 0.5) if isinstance(value, float) and 0 <= value <= 1 else None
    if not isinstance(row, list) or len(row) < 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row):
        return None
    return max(range(len(row)), key=row.__getitem__)
