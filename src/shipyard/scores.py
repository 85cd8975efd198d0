"""A classifier that answers with scores, one number per class (logits or probabilities),
names the class with the highest: smoke checks and live feedback compare that class with
the label. (Validation does the same over whole arrays: ``validation.metrics.as_labels``.)
"""

from __future__ import annotations

from typing import Any


def class_of(row: Any) -> int | None:
    """The index of the highest of a row of two or more scores; ``None`` for anything else."""
    if not isinstance(row, list) or len(row) < 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row):
        return None
    return max(range(len(row)), key=row.__getitem__)
