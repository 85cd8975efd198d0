"""The local rule evaluator: the same vocabulary as the exported PromQL, computed from
scraped ``/metrics`` snapshots kept in a bounded window, with Prometheus's alert life
cycle (inactive → pending → firing → resolved) and its ``for`` semantics.

A window holds, per deployment, snapshots of its ``/metrics`` (``monitor.snapshot``);
a metric over ``window`` seconds at time ``t`` is computed from the oldest and newest
snapshots inside ``[t - window, t]``, as ``rate()`` and ``increase()`` see them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.deploy.analysis import compare, empty_entry, stats
from shipyard.expressions.alert_rules import AlertRule
from shipyard.monitor import drift, snapshot
from shipyard.monitor.snapshot import Snapshot


def _merged(span: Snapshot) -> dict[str, Any]:
    """All versions of a deployment together, as ``sum by (deployment)`` sees them."""
    out = empty_entry()
    for entry in span.values():
        out["requests"] += entry["requests"]
        out["errors"] += entry["errors"]
        for le, n in entry["buckets"].items():
            out["buckets"][le] = out["buckets"].get(le, 0.0) + n
    return out


def _worst(values: list[float | None], highest: bool) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return max(present) if highest else min(present)


def metric_value(metric: str, span: Snapshot, seconds: float) -> float | None:
    """A rule's metric over a window of ``seconds`` (None: no data, as PromQL has none)."""
    if metric == "drift_psi":
        return _worst([max(drift.psi(e).values(), default=None) for e in span.values()], True)
    if metric == "live_accuracy":
        return _worst([snapshot.live_accuracy(e) for e in span.values()], False)
    if metric == "live_mae":
        return _worst([snapshot.live_mae(e) for e in span.values()], True)
    if metric == "batch_size":  # mean rows per model call, all versions together
        batches = sum(e["batches"] for e in span.values())
        return sum(e["batch_rows"] for e in span.values()) / batches if batches else None
    merged = _merged(span)
    if metric == "requests":
        return float(merged["requests"]) / seconds
    if metric == "error_rate" and not merged["errors"]:
        return None  # no 5xx series: PromQL's division has no result either
    value: float | None = getattr(stats(merged), metric)  # error rate, p50/p95/p99
    return value


@dataclass
class Series:
    """A bounded history of one deployment's snapshots.

    Every scrape of the last ``fine`` seconds is kept; older ones only every
    ``coarse`` seconds, up to ``keep``. A window needs just its first and last
    scrape, so an hour at a 1 s scrape costs a few hundred snapshots, not 3,600.
    """

    keep: float  # seconds of history: the longest window a rule asks for
    fine: float = 120.0
    coarse: float = 15.0
    recent: deque[tuple[float, Snapshot]] = field(default_factory=deque)
    older: deque[tuple[float, Snapshot]] = field(default_factory=deque)

    def add(self, at: float, taken: Snapshot) -> None:
        """Record a scrape; thin what is older than ``fine``, drop what is older than ``keep``."""
        if self.recent:  # reference shares rarely change: keep one copy of each
            for version, entry in taken.items():
                before = self.recent[-1][1].get(version)
                if before is not None and before["reference"] == entry["reference"]:
                    entry["reference"] = before["reference"]
        self.recent.append((at, taken))
        while self.recent and self.recent[0][0] < at - self.fine:
            point = self.recent.popleft()
            if not self.older or point[0] - self.older[-1][0] >= self.coarse:
                self.older.append(point)
        while self.older and self.older[0][0] < at - self.keep:
            self.older.popleft()

    @property
    def points(self) -> list[tuple[float, Snapshot]]:
        """Every kept scrape, oldest first."""
        return [*self.older, *self.recent]

    def span(self, seconds: float, at: float) -> tuple[Snapshot, float] | None:
        """What happened over ``[at - seconds, at]`` and how long that was (two scrapes
        at least, as ``rate()`` needs)."""
        inside = [p for p in self.points if at - seconds <= p[0] <= at]
        if len(inside) < 2:
            return None
        (t0, first), (t1, last) = inside[0], inside[-1]
        return snapshot.between(first, last), t1 - t0

    def values(self, rules: Sequence[AlertRule], at: float) -> dict[str, float | None]:
        """Each rule's metric up to ``at``, by rule name; a rule whose window holds fewer
        than two scrapes has no entry (no value, so no verdict). A window's changes are
        worked out once for all the rules that share it."""
        spans: dict[float, tuple[Snapshot, float] | None] = {}
        out: dict[str, float | None] = {}
        for rule in rules:
            if rule.window not in spans:
                spans[rule.window] = self.span(rule.window, at)
            found = spans[rule.window]
            if found is not None:
                out[rule.name] = metric_value(rule.metric, *found)
        return out


def holds(rule: AlertRule, value: float | None) -> bool:
    """Whether the rule's condition is true for ``value`` (no data: never)."""
    return value is not None and compare(value, rule.op, rule.threshold)


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
