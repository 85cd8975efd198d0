"""Prometheus files from the rule vocabulary: alert rules in PromQL, a scrape config, and
promtool unit tests that prove each rule fires when it should and stays quiet otherwise.

    shipyard export prometheus --out deploy/
      prometheus.yml             scrape config (+ rule_files)
      shipyard-rules.yml         one alerting rule per `monitor.alerts` entry
      shipyard-rules.test.yml    `promtool test rules` cases, generated from the same rules
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from shipyard.expressions.alert_rules import AlertRule
from shipyard.expressions.promql import duration, rule_expr

RULES_FILE = "shipyard-rules.yml"
TESTS_FILE = "shipyard-rules.test.yml"
CONFIG_FILE = "prometheus.yml"
STEP = 15.0  # seconds between samples in the unit tests, and the evaluation interval


def _annotations(rule: AlertRule) -> dict[str, str]:
    return {
        "summary": f"{rule.name}: {rule.when}",
        "shipyard_actions": ",".join(rule.actions),
    }


def alerting_rules(rules: list[AlertRule], deployment: str) -> dict[str, Any]:
    """The ``groups:`` document of Prometheus alerting rules."""
    return {
        "groups": [
            {
                "name": f"shipyard-{deployment}",
                "rules": [
                    {
                        "alert": r.name,
                        "expr": rule_expr(r, deployment),
                        "for": duration(r.for_),
                        "labels": {"severity": r.severity, **r.labels},
                        "annotations": _annotations(r),
                    }
                    for r in rules
                ],
            }
        ]
    }


def scrape_config(deployment: str, targets: list[str], interval: float = STEP) -> dict[str, Any]:
    """A Prometheus config that scrapes the deployment's servers and loads the rules."""
    return {
        "global": {
            "scrape_interval": duration(interval),
            "evaluation_interval": duration(interval),
        },
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {
                "job_name": f"shipyard-{deployment}",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": targets}],
            }
        ],
    }


def _target(rule: AlertRule, firing: bool) -> float:
    """A value of the rule's metric on the side of the threshold that fires (or not)."""
    t = rule.threshold
    above = (rule.op in (">", ">=")) == firing
    if above:
        value = t * 2 if t > 0 else 1.0
        return min(value, (1 + t) / 2) if rule.unit == "ratio" else value
    return t / 2


def synthetic_series(
    rule: AlertRule, deployment: str, firing: bool, samples: int
) -> list[dict[str, str]]:
    """Input series whose metric sits on one side of the threshold for the whole test."""
    value = _target(rule, firing)
    base = f'deployment="{deployment}",model="m",version="1",protocol="v2"'
    if rule.metric in ("error_rate", "requests"):
        total = 1000.0 if rule.metric == "error_rate" else value * STEP
        errors = round(total * value) if rule.metric == "error_rate" else 0
        out = [
            {
                "series": f'shipyard_requests_total{{{base},code="200"}}',
                "values": f"0+{total - errors:g}x{samples}",
            }
        ]
        if errors:
            out.append(
                {
                    "series": f'shipyard_requests_total{{{base},code="500"}}',
                    "values": f"0+{errors:g}x{samples}",
                }
            )
        return out
    if rule.unit == "seconds":  # every observation between value and twice it
        low, high = value, value * 2
        name = "shipyard_request_duration_seconds_bucket"
        return [
            {"series": f'{name}{{{base},le="{low:g}"}}', "values": f"0+0x{samples}"},
            {"series": f'{name}{{{base},le="{high:g}"}}', "values": f"0+100x{samples}"},
            {"series": f'{name}{{{base},le="+Inf"}}', "values": f"0+100x{samples}"},
        ]
    if rule.metric == "drift_psi":
        return _drifted(value, base, samples)
    if rule.metric == "live_accuracy":
        correct = round(1000 * value)
        return [
            {
                "series": f'shipyard_feedback_total{{{base},outcome="{outcome}"}}',
                "values": f"0+{n:g}x{samples}",
            }
            for outcome, n in (("correct", correct), ("wrong", 1000 - correct))
        ]
    return [  # live_mae: 100 scored answers a step, off by `value` each
        {
            "series": f'shipyard_feedback_total{{{base},outcome="scored"}}',
            "values": f"0+100x{samples}",
        },
        {
            "series": f"shipyard_feedback_absolute_error_total{{{base}}}",
            "values": f"0+{100 * value:g}x{samples}",
        },
    ]


def _drifted(psi: float, base: str, samples: int) -> list[dict[str, str]]:
    """Two reference bins of half the rows each, and live rows split so that the PSI of
    the split is ``psi``: (p - ½)·ln(p / (1 - p)) grows with p, so halve the interval."""
    low, high = 0.5, 1 - 1e-6
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if (mid - 0.5) * math.log(mid / (1 - mid)) < psi else (low, mid)
    first = round(1000 * low)
    out = []
    for b, n in (("0", first), ("1", 1000 - first)):
        labels = f'{base},feature="0",bin="{b}"'
        out.append(
            {"series": f"shipyard_input_bin_total{{{labels}}}", "values": f"0+{n}x{samples}"}
        )
        out.append(
            {"series": f"shipyard_input_reference_ratio{{{labels}}}", "values": f"0.5x{samples}"}
        )
    return out


def _at(seconds: float) -> str:
    return duration(math.ceil(seconds / STEP) * STEP)


def _check(rule: AlertRule, at: float, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": _at(at), "alertname": rule.name, "exp_alerts": alerts}


def unit_tests(rules: list[AlertRule], deployment: str) -> dict[str, Any]:
    """promtool test cases: each rule fires after ``for`` on data past its threshold, is not
    yet firing halfway through ``for``, and stays quiet on data on the other side."""
    tests: list[dict[str, Any]] = []
    for rule in rules:
        fire_at = rule.for_ + 4 * STEP  # rates need two samples; pending, then firing
        samples = math.ceil(fire_at / STEP) + 2
        expected = {
            "exp_labels": {"deployment": deployment, "severity": rule.severity, **rule.labels},
            "exp_annotations": _annotations(rule),
        }

        fires = [_check(rule, fire_at, [expected])]
        if rule.for_ >= 4 * STEP:
            fires.append(_check(rule, rule.for_ / 2, []))  # pending, not firing yet
        tests.append(
            {
                "interval": duration(STEP),
                "input_series": synthetic_series(rule, deployment, True, samples),
                "alert_rule_test": fires,
            }
        )
        tests.append(
            {
                "interval": duration(STEP),
                "input_series": synthetic_series(rule, deployment, False, samples),
                "alert_rule_test": [_check(rule, fire_at, [])],
            }
        )
    return {"rule_files": [RULES_FILE], "evaluation_interval": duration(STEP), "tests": tests}


def prometheus_files(rules: list[AlertRule], deployment: str, targets: list[str]) -> dict[str, str]:
    """File name → YAML text, for ``shipyard export prometheus``."""

    def dump(document: dict[str, Any], what: str) -> str:
        head = f"# {what} — generated by `shipyard export prometheus`; edit shipyard.yaml instead\n"
        return head + yaml.safe_dump(document, sort_keys=False, width=1000)

    return {
        CONFIG_FILE: dump(scrape_config(deployment, targets), "Prometheus scrape config"),
        RULES_FILE: dump(alerting_rules(rules, deployment), "alerting rules"),
        TESTS_FILE: dump(unit_tests(rules, deployment), "promtool unit tests"),
    }
