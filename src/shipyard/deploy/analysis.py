"""Canary analysis from the deployment's own metrics.

At a step's start the controller keeps the totals from the server's
``/metrics`` (requests, 5xx answers, latency histogram buckets, shadow results,
per version); at the step's end it takes them again, and the difference is the
step's window. The new version is judged on its own numbers (absolute
thresholds, the policy's rules) and against the stable version's numbers in the
same window. Too few requests is *inconclusive*, never healthy.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from shipyard.deploy.plan import AnalysisPolicy
from shipyard.exposition import samples
from shipyard.expressions.rollout_steps import parse_rule

Totals = dict[str, dict[str, Any]]  # version → {"requests", "errors", "buckets", "shadow"}


SERVING_SERIES = frozenset(
    {
        "shipyard_requests_total",
        "shipyard_request_duration_seconds_bucket",
        "shipyard_shadow_requests_total",
    }
)


def empty_entry() -> dict[str, Any]:
    """A version's totals before any sample."""
    return {"requests": 0.0, "errors": 0.0, "buckets": {}, "shadow": {}}


def count(entry: dict[str, Any], name: str, labels: dict[str, str], value: float) -> None:
    """Add one sample of ``SERVING_SERIES`` to a version's totals."""
    if name == "shipyard_requests_total":
        entry["requests"] += value
        if labels.get("code", "").startswith("5"):
            entry["errors"] += value
    elif name == "shipyard_request_duration_seconds_bucket":
        buckets = entry["buckets"]
        buckets[labels["le"]] = buckets.get(labels["le"], 0.0) + value
    else:
        shadow = entry["shadow"]
        shadow[labels["result"]] = shadow.get(labels["result"], 0.0) + value


def totals(metrics_text: str) -> Totals:
    """Per-version totals from a ``/metrics`` page."""
    out: Totals = {}
    for name, labels, value in samples(metrics_text, SERVING_SERIES):
        entry = out.get(labels.get("version", ""))
        if entry is None:
            entry = out[labels.get("version", "")] = empty_entry()
        count(entry, name, labels, value)
    return out


def prometheus_totals(url: str, deployment: str, seconds: float) -> Totals:
    """Per-version totals of the last ``seconds`` from a Prometheus that scrapes the
    deployment (``increase()`` over the window, so restarts are already accounted for)."""
    from shipyard.prometheus_api import query

    w, sel = f"{max(1000, round(seconds * 1000))}ms", f'deployment="{deployment}"'
    out: Totals = {}

    def entry(labels: dict[str, str]) -> dict[str, Any]:
        return out.setdefault(labels.get("version", ""), empty_entry())

    def increase(series: str, by: str, extra: str = "") -> list[tuple[dict[str, str], float]]:
        return query(url, f"sum by ({by}) (increase({series}{{{sel}{extra}}}[{w}]))")

    for labels, value in increase("shipyard_requests_total", "version"):
        entry(labels)["requests"] = value
    for labels, value in increase("shipyard_requests_total", "version", ',code=~"5.."'):
        entry(labels)["errors"] = value
    for labels, value in increase("shipyard_request_duration_seconds_bucket", "version, le"):
        entry(labels)["buckets"][labels["le"]] = value
    for labels, value in increase("shipyard_shadow_requests_total", "version, result"):
        entry(labels)["shadow"][labels["result"]] = value
    return out


def _series(entry: dict[str, Any]) -> list[tuple[str, float]]:
    return [
        ("requests", entry["requests"]),
        ("errors", entry["errors"]),
        *((f"le={k}", v) for k, v in entry["buckets"].items()),
        *((f"shadow={k}", v) for k, v in entry["shadow"].items()),
    ]


def window(before: Totals, now: Totals) -> Totals:
    """What happened between two snapshots.

    A version any of whose counters went down was restarted in between: all of its
    counters then count from zero, together, so its rates and quantiles stay whole.
    """
    empty = empty_entry()
    out: Totals = {}
    for v, entry in now.items():
        old = before.get(v, empty)
        previous = dict(_series(old))
        if any(value < previous.get(key, 0.0) for key, value in _series(entry)):
            old = empty

        out[v] = {
            "requests": entry["requests"] - old["requests"],
            "errors": entry["errors"] - old["errors"],
            "buckets": {le: n - old["buckets"].get(le, 0.0) for le, n in entry["buckets"].items()},
            "shadow": {r: n - old["shadow"].get(r, 0.0) for r, n in entry["shadow"].items()},
        }
    return out


def quantile(q: float, buckets: dict[str, float]) -> float | None:
    """``histogram_quantile`` as Prometheus computes it: linear within the bucket."""
    ordered = sorted((float(le), n) for le, n in buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the largest finite bucket: its bound
            span = count - lower_count
            return lower_bound + (bound - lower_bound) * (
                (rank - lower_count) / span if span else 1
            )
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass(frozen=True, slots=True)
class Stats:
    """One version's numbers over a window."""

    requests: int
    error_rate: float | None
    p50_latency: float | None
    p95_latency: float | None
    p99_latency: float | None
    shadow_compared: int = 0
    shadow_mismatch_rate: float | None = None
    shadow_error_rate: float | None = None


def stats(entry: dict[str, Any] | None) -> Stats:
    """A version's window totals as rates and quantiles."""
    if not entry:
        return Stats(0, None, None, None, None)
    requests = int(entry["requests"])
    shadow = entry["shadow"]
    compared = int(sum(shadow.get(k, 0.0) for k in ("match", "mismatch", "error")))
    return Stats(
        requests,
        entry["errors"] / requests if requests else None,
        quantile(0.50, entry["buckets"]),
        quantile(0.95, entry["buckets"]),
        quantile(0.99, entry["buckets"]),
        compared,
        shadow.get("mismatch", 0.0) / compared if compared else None,
        shadow.get("error", 0.0) / compared if compared else None,
    )


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison the analysis made."""

    name: str
    value: float | None
    threshold: float
    ok: bool


@dataclass(frozen=True, slots=True)
class Analysis:
    """The verdict on one step: pass, fail or inconclusive, with every check."""

    verdict: str
    new: Stats
    stable: Stats
    checks: tuple[Check, ...]
    at: float = field(default_factory=time.time)
    note: str = ""

    def to_data(self) -> dict[str, Any]:
        """As stored with the rollout and shown by ``shipyard status``."""
        return asdict(self)

    def failures(self) -> str:
        """The failed checks, for an event's reason."""
        return "; ".join(
            f"{c.name} {_shown(c.value)} over {_shown(c.threshold)}"
            for c in self.checks
            if not c.ok
        )


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def compare(value: float, op: str, threshold: float) -> bool:
    """``value OP threshold`` for the comparisons rules use (<, <=, >, >=)."""
    return {"<": value < threshold, "<=": value <= threshold, ">": value > threshold}.get(
        op, value >= threshold
    )


def analyze(
    policy: AnalysisPolicy, new_version: str, stable_version: str | None, span: Totals, shadow: bool
) -> Analysis:
    """Judge ``new_version`` over a window of totals (``shadow``: judge its copied answers)."""
    new, stable = stats(span.get(new_version)), stats(span.get(stable_version or ""))
    checks: list[Check] = []

    def check(name: str, value: float | None, threshold: float) -> None:
        checks.append(Check(name, value, threshold, value is not None and value <= threshold))

    if shadow:
        if new.shadow_compared < policy.min_requests:
            note = f"{new.shadow_compared} shadow answers compared; need {policy.min_requests}"
            return Analysis("inconclusive", new, stable, (), note=note)
        check("shadow_error_rate", new.shadow_error_rate, policy.max_error_rate)
        if policy.max_shadow_mismatch is not None:
            check("shadow_mismatch_rate", new.shadow_mismatch_rate, policy.max_shadow_mismatch)
    else:
        if new.requests < policy.min_requests:
            note = f"{new.requests} requests to the new version; need {policy.min_requests}"
            return Analysis("inconclusive", new, stable, (), note=note)
        check("error_rate", new.error_rate, policy.max_error_rate)
        if policy.max_p95_latency is not None:
            check("p95_latency", new.p95_latency, policy.max_p95_latency)
        if policy.max_p99_latency is not None:
            check("p99_latency", new.p99_latency, policy.max_p99_latency)
        if stable.requests >= policy.min_requests:
            assert stable.error_rate is not None
            check(
                "error_rate_vs_stable",
                new.error_rate,
                stable.error_rate + policy.max_error_rate_increase,
            )
            # a p99 of fewer than 100 samples is their maximum: one slow request decides it
            quantiles = [("p95_latency", 20), ("p99_latency", 100)]
            for name, needed in quantiles:
                base = getattr(stable, name)
                if base is not None and min(new.requests, stable.requests) >= needed:
                    limit = base * policy.max_latency_ratio + policy.latency_slack
                    check(f"{name}_vs_stable", getattr(new, name), limit)
        for text in policy.rules:
            rule = parse_rule(text)
            value = getattr(new, rule.metric) if rule.metric != "requests" else new.requests
            ok = value is not None and compare(float(value), rule.op, rule.threshold)
            checks.append(Check(rule.text, value, rule.threshold, ok))
    verdict = "pass" if all(c.ok for c in checks) else "fail"
    return Analysis(verdict, new, stable, tuple(checks))
