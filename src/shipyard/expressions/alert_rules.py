"""The alert rule vocabulary: one small language, checked at spec load, evaluated two ways.

    when: error_rate > 0.02        # or 2%
    when: p99_latency > 250ms      # a latency needs a unit
    when: drift_psi > 0.2
    when: live_accuracy < 0.9      # or live_mae > 3.5 for a regression

A rule names a metric, a comparison and a threshold in the metric's unit, a
window the metric is computed over, how long the condition must hold (``for``),
a severity, labels, and the actions to take when it fires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shipyard.errors import InvalidInputError
from shipyard.units import parse_duration

ACTIONS = ("notify", "rollback", "retrain")
MAX_WINDOW = 6 * 3600.0
SEVERITIES = ("info", "warning", "critical")
_WHEN = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*(\S+)\s*$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric rules can name: its unit and what it means."""

    name: str
    unit: str  # "ratio", "seconds", "per_second" or "score"
    help: str


METRICS = {
    m.name: m
    for m in (
        Metric("error_rate", "ratio", "share of requests answered 5xx"),
        Metric("p50_latency", "seconds", "median request duration"),
        Metric("p95_latency", "seconds", "95th percentile request duration"),
        Metric("p99_latency", "seconds", "99th percentile request duration"),
        Metric("requests", "per_second", "requests per second"),
        Metric("drift_psi", "score", "population stability index of the worst input feature"),
        Metric("live_accuracy", "ratio", "accuracy of predictions against feedback labels"),
        Metric("live_mae", "score", "mean absolute error of predictions against feedback labels"),
    )
}


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert: a condition on a metric over a window, held for ``for_`` seconds."""

    name: str
    metric: str
    op: str
    threshold: float
    window: float = 300.0
    for_: float = 0.0
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)
    actions: tuple[str, ...] = ("notify",)
    when: str = ""

    @property
    def unit(self) -> str:
        """The unit of the metric (and of the threshold)."""
        return METRICS[self.metric].unit


def _threshold(metric: Metric, text: str, when: str) -> float:
    """A threshold in the metric's unit: ``250ms`` for a latency, ``0.02`` or ``2%`` for a ratio."""
    if metric.unit == "seconds":
        if re.fullmatch(r"\d+(\.\d+)?", text):
            raise InvalidInputError(
                f"{when!r}: {metric.name} is a latency: give the threshold a unit, like 250ms or 1s"
            )
        try:
            return parse_duration(text)
        except ValueError as err:
            raise InvalidInputError(f"{when!r}: {err}") from None
    scale = 1.0
    if text.endswith("%"):
        if metric.unit != "ratio":
            raise InvalidInputError(f"{when!r}: {metric.name} is not a ratio; drop the '%'")
        text, scale = text[:-1], 0.01
    try:
        value = float(text) * scale
    except ValueError:
        unit = {"ratio": "a ratio like 0.02 or 2%", "per_second": "requests per second"}.get(
            metric.unit, "a number"
        )
        raise InvalidInputError(
            f"{when!r}: {text!r} is not a threshold for {metric.name}: expected {unit}"
        ) from None
    if metric.unit == "ratio" and not 0 <= value <= 1:
        raise InvalidInputError(f"{when!r}: {metric.name} is a ratio from 0 to 1 (or 0% to 100%)")
    return value


def parse_when(when: str) -> tuple[str, str, float]:
    """``p99_latency > 250ms`` → ``("p99_latency", ">", 0.25)``, or a clear error."""
    match = _WHEN.match(when)
    if match is None:
        raise InvalidInputError(
            f"{when!r}: expected 'METRIC OP THRESHOLD', like 'error_rate > 0.02' or "
            "'p99_latency > 250ms'"
        )
    name, op, text = match.groups()
    metric = METRICS.get(name)
    if metric is None:
        raise InvalidInputError(
            f"{when!r}: unknown metric {name!r}", hint=f"known: {', '.join(METRICS)}"
        )
    return name, op, _threshold(metric, text, when)


def alert_rule(
    name: str,
    when: str,
    *,
    window: float = 300.0,
    for_: float = 0.0,
    severity: str = "warning",
    labels: dict[str, str] | None = None,
    actions: tuple[str, ...] = ("notify",),
) -> AlertRule:
    """Check every part of a rule and build it."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"alert name {name!r}: use letters, digits and '_', starting with a letter "
            "(it becomes a Prometheus alert name)"
        )
    if name == UNAVAILABLE.name:
        raise InvalidInputError(
            f"alert name {name!r} is Shipyard's own (raised when metrics cannot be read)"
        )
    metric, op, threshold = parse_when(when)
    if severity not in SEVERITIES:
        raise InvalidInputError(f"{name}: severity {severity!r}; choose {', '.join(SEVERITIES)}")
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise InvalidInputError(
            f"{name}: unknown action(s) {', '.join(unknown)}; choose from {', '.join(ACTIONS)}"
        )
    reserved = {"alertname", "deployment", "model", "severity"} & set(labels or {})
    if reserved:
        raise InvalidInputError(
            f"{name}: label(s) {', '.join(sorted(reserved))} are set by Shipyard"
        )
    if not 1 <= window <= MAX_WINDOW:
        raise InvalidInputError(
            f"{name}: a window from 1s to 6h (the control plane keeps at most that much)"
        )
    return AlertRule(
        name, metric, op, threshold, window, for_, severity, dict(labels or {}), actions, when
    )


# Raised by the evaluator when a deployment's metrics cannot be read for the monitor's
# grace period: no data never silently means healthy.
UNAVAILABLE = AlertRule(
    "MetricsUnavailable",
    "requests",
    ">",
    0.5,
    severity="warning",
    actions=("notify",),
    when="metrics cannot be scraped",
)
