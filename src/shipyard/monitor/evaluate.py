"""The local rule evaluator: the same vocabulary as the exported PromQL, computed from
scraped ``/metrics`` snapshots kept in a bounded window, with Prometheus's alert life
cycle (inactive → pending → firing → resolved) and its ``for`` semantics.

A window holds, per deployment, snapshots of the serving totals (``deploy.analysis``
reads the same page); a metric over ``window`` seconds at time ``t`` is computed from
the oldest and newest snapshots inside ``[t - window, t]``, as ``rate()`` sees them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from shipyard.deploy.analysis import Totals, stats, window
from shipyard.monitor.rules import AlertRule

Snapshot = tuple[float, Totals, dict[str, float]]  # time, per-version totals, gauges


def _merged(totals: Totals) -> dict[str, Any]:
    """All versions of a deployment together, as ``sum by (deployment)`` sees them."""
    out: dict[str, Any] = {"requests": 0.0, "errors": 0.0, "buckets": {}, "shadow": {}}
    for entry in totals.values():
        out["requests"] += entry["requests"]
        out["errors"] += entry["errors"]
        for le, n in entry["buckets"].items():
            out["buckets"][le] = out["buckets"].get(le, 0.0) + n
    return out


@dataclass
class Series:
    """A bounded history of one deployment's snapshots."""

    keep: float  # seconds of history: the longest window a rule asks for
    points: deque[Snapshot] = field(default_factory=deque)

    def add(self, at: float, totals: Totals, gauges: dict[str, float]) -> None:
        """Record a scrape; anything older than ``keep`` is dropped."""
        self.points.append((at, totals, gauges))
        while self.points and self.points[0][0] < at - self.keep:
            self.points.popleft()

    def value(self, metric: str, span: float, at: float) -> float | None:
        """The metric over ``[at - span, at]``, or None when there is not enough data."""
        inside = [p for p in self.points if at - span <= p[0] <= at]
        if not inside:
            return None
        if metric in ("drift_psi", "live_accuracy"):
            return inside[-1][2].get(metric)
        if len(inside) < 2:
            return None  # a rate needs two samples
        (t0, first, _), (t1, last, _) = inside[0], inside[-1]
        delta = _merged(window(first, last))
        if metric == "requests":
            return float(delta["requests"]) / (t1 - t0)
        if metric == "error_rate" and not delta["errors"]:
            return None  # no 5xx series: PromQL's division has no result either
        value: float | None = getattr(stats(delta), metric)  # error rate, p50/p95/p99
        return value


def holds(rule: AlertRule, value: float | None) -> bool:
    """Whether the rule's condition is true for ``value`` (no data: never)."""
    if value is None:
        return False
    return {
        ">": value > rule.threshold,
        ">=": value >= rule.threshold,
        "<": value < rule.threshold,
    }.get(rule.op, value <= rule.threshold)


@dataclass
class AlertState:
    """Where one rule stands for one deployment."""

    state: str = "inactive"  # inactive, pending, firing
    active_since: float | None = None
    value: float | None = None


def step(rule: AlertRule, current: AlertState, value: float | None, at: float) -> str | None:
    """Advance the life cycle by one evaluation; returns the transition, if any
    ("pending", "firing" or "resolved")."""
    current.value = value
    if not holds(rule, value):
        was = current.state
        current.state, current.active_since = "inactive", None
        return "resolved" if was == "firing" else None
    if current.state == "inactive":
        current.state, current.active_since = "pending", at
        if rule.for_ > 0:
            return "pending"
    assert current.active_since is not None
    if current.state == "pending" and at - current.active_since >= rule.for_:
        current.state = "firing"
        return "firing"
    return None
