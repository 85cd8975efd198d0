"""The rule vocabulary in PromQL, over the serving runtime's metrics.

Each metric becomes an expression per deployment (``by (deployment)``), so one
rule watches every deployment the selector matches and each fires on its own.
"""

from __future__ import annotations

from shipyard.expressions.alert_rules import AlertRule


def duration(seconds: float) -> str:
    """A PromQL duration: ``5m``, ``90s``, ``250ms``."""
    ms = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


_SERVER_ERRORS = 'code=~"5.."'
Window = float | str  # seconds, or a range as PromQL text (a dashboard's "$__rate_interval")


def _range(window: Window) -> str:
    return window if isinstance(window, str) else duration(window)


def _selector(deployment: str | None, extra: str = "") -> str:
    parts = [f'deployment="{deployment}"'] if deployment else []
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


def metric_expr(metric: str, window: Window, deployment: str | None = None) -> str:
    """The PromQL for one metric of the vocabulary, per deployment."""
    w = _range(window)
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
        return f"max by (deployment) ({drift_psi_expr(window, deployment)})"
    if metric in ("live_accuracy", "live_mae"):
        worst = "min" if metric == "live_accuracy" else "max"  # the worst version counts
        return f"{worst} by (deployment) ({live_expr(metric, window, deployment)})"
    raise ValueError(f"no PromQL for metric {metric!r}")


def rule_expr(rule: AlertRule, deployment: str | None = None) -> str:
    """The alert's condition in PromQL."""
    return f"{metric_expr(rule.metric, rule.window, deployment)} {rule.op} {rule.threshold:g}"


PSI_FLOOR = 1e-4  # a share of 0 would make ln() infinite
DRIFT_MIN_ROWS = 100  # fewer live rows in the window: too noisy to call drift


def drift_psi_expr(window: Window, deployment: str | None = None) -> str:
    """The population stability index per deployment, version and feature: the live
    shares of each reference bin over the window against the reference shares."""
    w, sel = _range(window), _selector(deployment)
    per_bin = "deployment, version, feature, bin"
    per_feature = "deployment, version, feature"
    counts = f"sum by ({per_bin}) (increase(shipyard_input_bin_total{sel}[{w}]))"
    rows = f"sum by ({per_feature}) (increase(shipyard_input_bin_total{sel}[{w}]))"
    live = f"({counts} / ignoring (bin) group_left {rows})"
    ref = f"max by ({per_bin}) (shipyard_input_reference_ratio{sel})"
    floor = f"{PSI_FLOOR:g}"
    psi = (
        f"sum by ({per_feature}) (({live} - {ref}) * "
        f"ln(clamp_min({live}, {floor}) / clamp_min({ref}, {floor})))"
    )
    return f"{psi} and {rows} >= {DRIFT_MIN_ROWS}"


def live_expr(metric: str, window: Window, deployment: str | None = None) -> str:
    """Live accuracy (correct ÷ all feedback) or MAE (absolute error ÷ scored feedback)
    per deployment and version, over the window."""
    w, by = _range(window), "sum by (deployment, version)"
    if metric == "live_accuracy":
        correct = _selector(deployment, 'outcome="correct"')
        judged = _selector(deployment, 'outcome=~"correct|wrong"')
        return (
            f"{by} (increase(shipyard_feedback_total{correct}[{w}])) / "
            f"{by} (increase(shipyard_feedback_total{judged}[{w}]))"
        )
    scored = _selector(deployment, 'outcome="scored"')
    errors = f"shipyard_feedback_absolute_error_total{_selector(deployment)}"
    return f"{by} (increase({errors}[{w}])) / {by} (increase(shipyard_feedback_total{scored}[{w}]))"
