"""Quality gates: ``accuracy >= 0.95``, ``accuracy >= champion - 0.005``, ``size_mb <= 50``.

A gate names a metric, a comparison and a bound; the bound is a number, or
``champion`` (the same metric of the current champion, on the same data) plus or
minus a margin. ``cv.accuracy`` refers to the cross-validation mean instead of
the holdout score. NaN never passes a gate.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

# Measured on the model itself rather than computed from predictions.
MEASURED = ("latency_p95_ms", "size_mb")
# Computed from labels and predictions (validation/metrics.py computes them).
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

_GATE = re.compile(
    r"^\s*(?P<metric>(?:cv\.)?[a-z][a-z0-9_]*)\s*(?P<op>>=|<=|==|>|<)\s*"
    r"(?:(?P<champion>champion)\s*(?:(?P<sign>[+-])\s*(?P<margin>\d+(?:\.\d+)?))?"
    r"|(?P<number>-?\d+(?:\.\d+)?(?:e-?\d+)?))\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True, slots=True)
class Gate:
    """One parsed gate."""

    text: str
    metric: str
    op: str
    number: float | None  # an absolute bound, or
    margin: float  # champion + margin (margin is negative for "champion - x")

    @property
    def relative(self) -> bool:
        """Whether the bound comes from the champion."""
        return self.number is None


def parse_gate(text: str) -> Gate:
    """Parse a gate; ``ValueError`` says what form is expected."""
    match = _GATE.match(text)
    if match is None:
        raise ValueError(
            f"gate {text!r} is not of the form `METRIC OP BOUND`, e.g. `accuracy >= 0.95` or "
            "`accuracy >= champion - 0.005`"
        )
    number = match.group("number")
    margin = float(match.group("margin") or 0) * (-1 if match.group("sign") == "-" else 1)
    return Gate(
        text.strip(),
        match.group("metric"),
        match.group("op"),
        None if number is None else float(number),
        margin,
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one gate came out."""

    gate: str
    metric: str
    required: str
    got: float | None
    passed: bool
    note: str = ""


def evaluate(gate: Gate, candidate: dict[str, float], champion: dict[str, float] | None) -> Verdict:
    """Judge one gate against the candidate's (and champion's) metrics."""
    got = candidate.get(gate.metric)
    if gate.relative:
        if champion is None or gate.metric not in champion:
            return Verdict(
                gate.text,
                gate.metric,
                "champion (none yet)",
                got,
                True,
                "no champion to compare with",
            )
        bound = champion[gate.metric] + gate.margin
        required = f"{gate.op} {bound:.4g} (champion {champion[gate.metric]:.4g}{gate.margin:+g})"
    else:
        assert gate.number is not None
        bound = gate.number
        required = f"{gate.op} {bound:g}"
    if got is None:
        return Verdict(gate.text, gate.metric, required, None, False, "metric was not computed")
    if math.isnan(got) or math.isnan(bound):
        return Verdict(gate.text, gate.metric, required, got, False, "NaN never passes a gate")
    return Verdict(gate.text, gate.metric, required, got, _OPS[gate.op](got, bound))
