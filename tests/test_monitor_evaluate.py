"""The local evaluator agrees with Prometheus: the same synthetic series go through both,
and promtool confirms the very evaluation at which the local evaluator first fires."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shipyard.expressions.alert_rules import AlertRule, alert_rule
from shipyard.expressions.prometheus_rules import (
    RULES_FILE,
    STEP,
    alerting_rules,
    synthetic_series,
    unit_tests,
)
from shipyard.expressions.promql import duration
from shipyard.monitor.evaluate import AlertState, Series, step
from shipyard.monitor.snapshot import snapshot
from test_monitor import RULES, promtool


def expand(values: str) -> list[float]:
    """promtool's ``a+bxN`` and ``vxN`` notation, as numbers."""
    match = re.fullmatch(r"([-\d.e]+)(?:\+([-\d.e]+))?x(\d+)", values)
    assert match, values
    start, inc, n = float(match[1]), float(match[2] or 0), int(match[3])
    return [start + inc * i for i in range(n + 1)]


def first_firing(rule: AlertRule, series: list[dict[str, str]], steps: int) -> float | None:
    """Feed the series to the local evaluator, one scrape per step; when does it fire?"""
    history = Series(keep=rule.window + STEP)
    state = AlertState()
    columns = [(s["series"], expand(s["values"])) for s in series]
    for i in range(steps):
        at = i * STEP
        page = "\n".join(f"{name} {values[i]}" for name, values in columns if i < len(values))
        history.add(at, snapshot(page))
        values = history.values([rule], at)  # as the control plane's evaluator asks
        if rule.name in values and step(rule, state, values[rule.name], at) == "firing":
            return at
    return None


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_local_and_prometheus_fire_at_the_same_evaluation(rule: AlertRule, tmp_path: Path) -> None:
    samples = int((rule.for_ + 8 * STEP) / STEP)
    firing = synthetic_series(rule, "digits", True, samples)
    fired = first_firing(rule, firing, samples)
    assert fired is not None, "the local evaluator never fired"
    assert first_firing(rule, synthetic_series(rule, "digits", False, samples), samples) is None

    expected = unit_tests([rule], "digits")["tests"][0]["alert_rule_test"][0]["exp_alerts"]
    checks = [{"eval_time": duration(fired), "alertname": rule.name, "exp_alerts": expected}]
    if fired >= STEP:
        checks.append(
            {"eval_time": duration(fired - STEP), "alertname": rule.name, "exp_alerts": []}
        )
    (tmp_path / RULES_FILE).write_text(yaml.safe_dump(alerting_rules([rule], "digits")))
    (tmp_path / "agree.test.yml").write_text(
        yaml.safe_dump(
            {
                "rule_files": [RULES_FILE],
                "evaluation_interval": duration(STEP),
                "tests": [
                    {"interval": duration(STEP), "input_series": firing, "alert_rule_test": checks}
                ],
            }
        )
    )
    agreed = promtool("test", "rules", tmp_path / "agree.test.yml")
    assert agreed.returncode == 0, f"local fired at {fired:g} s; promtool: {agreed.stdout}"


def test_an_alert_goes_pending_fires_and_resolves() -> None:
    rule = alert_rule("Drift", "drift_psi > 0.2", for_=30)
    state = AlertState()
    seen = [step(rule, state, v, t) for t, v in ((0, 0.5), (15, 0.5), (30, 0.5), (45, 0.1))]
    assert seen == ["pending", None, "firing", "resolved"]
    assert state.state == "inactive"


def test_no_data_never_fires() -> None:
    rule = alert_rule("Low", "live_accuracy < 0.9")
    assert step(rule, AlertState(), None, 0) is None
