"""The rule vocabulary in PromQL, over the serving runtime's metrics.

Each metric becomes an expression per deployment (``by (deployment)``), so one
rule watches every deployment the selector matches and each fires on its own.
"""

from __future__ import annotations

from shipyard.monitor.rules import AlertRule


def duration(seconds: float) -> str:
    """A PromQL duration: ``5m``, ``90s``, ``250ms``."""
    ms = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


_SERVER_ERRORS = 'code=~"5.."'


def _selector(deployment: str | None, extra: str = "") -> str:
    parts = [f'deployment="{deployment}"'] if deployment else []
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


def metric_expr(metric: str, window: float, deployment: str | None = None) -> str:
    """The PromQL for one metric of the vocabulary, per deployment."""
    w = duration(window)
    requests = f"rate(shipyard_requests_total{_selector(deployment)}[{w}])"
    if metric == "error_rate":
        failed = _selector(deployment, _SERVER_ERRORS)
        errors = f"rate(shipyard_requests_total{failed}[{w}])"
        return f"sum by (deployment) ({errors}) / sum by (deployment) ({requests})"
    if metric.endswith("_latency"):
        q = {"p50": "0.5", "p95": "0.95", "p99": "0.99"}[metric.split("_")[0]]
        buckets = f"rate(shipyard_request_duration_seconds_bucket{_selector(deployment)}[{w}])"
        return f"histogram_quantile({q}, sum by (deployment, le) ({buckets}))"
    if metric == "requests":
        return f"sum by (deployment) ({requests})"
    if metric == "drift_psi":
        return f"max by (deployment) (shipyard_drift_psi{_selector(deployment)})"
    if metric == "live_accuracy":
        return f"min by (deployment) (shipyard_live_accuracy{_selector(deployment)})"
    raise ValueError(f"no PromQL for metric {metric!r}")


def rule_expr(rule: AlertRule, deployment: str | None = None) -> str:
    """The alert's condition in PromQL."""
    return f"{metric_expr(rule.metric, rule.window, deployment)} {rule.op} {rule.threshold:g}"
