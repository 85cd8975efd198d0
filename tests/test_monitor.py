"""The alert rule vocabulary and its Prometheus export, checked by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shipyard.errors import InvalidInputError, SpecError
from shipyard.expressions.alert_rules import AlertRule, alert_rule, parse_when
from shipyard.expressions.prometheus_rules import RULES_FILE, TESTS_FILE, prometheus_files
from shipyard.expressions.promql import duration, rule_expr
from shipyard.spec import parse_spec

PROMTOOL = shutil.which("promtool") or "promtool"  # `make test` installs it; missing fails


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=120)


RULES = [
    alert_rule(
        "HighErrorRate",
        "error_rate > 0.02",
        for_=120,
        severity="critical",
        actions=("rollback", "notify"),
    ),
    alert_rule("SlowModel", "p99_latency > 250ms", for_=300),
    alert_rule("InputDrift", "drift_psi > 0.2", for_=1800, actions=("notify", "retrain")),
    alert_rule("AccuracyDrop", "live_accuracy < 90%", for_=3600, labels={"team": "ml"}),
    alert_rule("NoTraffic", "requests < 1", window=60),
    alert_rule("LargeErrors", "live_mae > 3.5", window=600, for_=60),
]


@pytest.mark.parametrize(
    ("when", "parsed"),
    [
        ("error_rate > 0.02", ("error_rate", ">", 0.02)),
        ("error_rate >= 2%", ("error_rate", ">=", 0.02)),
        ("p99_latency > 250ms", ("p99_latency", ">", 0.25)),
        ("p50_latency<1s", ("p50_latency", "<", 1.0)),
        ("requests < 1", ("requests", "<", 1.0)),
        ("live_accuracy < 0.9", ("live_accuracy", "<", 0.9)),
    ],
)
def test_conditions_read_their_units(when: str, parsed: tuple[str, str, float]) -> None:
    metric, op, threshold = parse_when(when)
    assert (metric, op) == parsed[:2] and threshold == pytest.approx(parsed[2])


@pytest.mark.parametrize(
    ("when", "words"),
    [
        ("latency > 1s", "unknown metric 'latency'"),
        ("p99_latency > 250", "give the threshold a unit"),
        ("error_rate > 250ms", "not a threshold for error_rate"),
        ("error_rate > 1.5", "ratio from 0 to 1"),
        ("drift_psi > 20%", "not a ratio"),
        ("error_rate is high", "METRIC OP THRESHOLD"),
    ],
)
def test_bad_conditions_say_what_is_wrong(when: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        parse_when(when)


def test_rules_check_names_actions_and_labels() -> None:
    with pytest.raises(InvalidInputError, match="alert name"):
        alert_rule("high error rate", "error_rate > 0.1")
    with pytest.raises(InvalidInputError, match="unknown action"):
        alert_rule("X", "error_rate > 0.1", actions=("page",))
    with pytest.raises(InvalidInputError, match="set by Shipyard"):
        alert_rule("X", "error_rate > 0.1", labels={"severity": "low"})


def test_durations_are_written_the_way_promql_reads_them() -> None:
    assert [duration(s) for s in (300, 90, 0.25, 3600, 0)] == ["5m", "90s", "250ms", "1h", "0h"]


def test_each_metric_becomes_promql_per_deployment() -> None:
    assert rule_expr(RULES[0], "digits") == (
        'sum by (deployment) (rate(shipyard_requests_total{deployment="digits",code=~"5.."}[5m]))'
        ' / sum by (deployment) (rate(shipyard_requests_total{deployment="digits"}[5m])) > 0.02'
    )
    assert rule_expr(RULES[1], "digits").startswith(
        "histogram_quantile(0.99, sum by (deployment, le)"
    )


def export(tmp_path: Path, rules: list[AlertRule]) -> Path:
    for name, text in prometheus_files(rules, "digits", ["127.0.0.1:8000"]).items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_exported_rules_and_config_pass_promtool(tmp_path: Path) -> None:
    out = export(tmp_path, RULES)
    checked = promtool("check", "rules", out / RULES_FILE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(RULES)} rules found" in checked.stdout
    config = promtool("check", "config", out / "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_generated_unit_tests_pass_and_would_catch_a_wrong_rule(tmp_path: Path) -> None:
    out = export(tmp_path, RULES)
    passed = promtool("test", "rules", out / TESTS_FILE)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    # the same tests against rules whose thresholds were moved far away must fail
    rules = (out / RULES_FILE).read_text()
    (out / RULES_FILE).write_text(rules.replace("> 0.02", "> 0.9").replace("< 0.9", "< 0.01"))
    failed = promtool("test", "rules", out / TESTS_FILE)
    assert failed.returncode == 1
    assert "HighErrorRate" in failed.stderr + failed.stdout


SPEC = """\
model:
  name: digits
train:
  command: python train.py
monitor:
  alerts:
    - name: HighErrorRate
      when: error_rate > 0.02
      for: 2m
{extra}"""


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("    - name: Slow\n      when: p99_latency > 250\n", "give the threshold a unit"),
        ("    - name: Odd\n      when: latency > 1s\n", "unknown metric"),
        ("    - name: HighErrorRate\n      when: error_rate > 0.5\n", "given twice"),
        ("    - name: X\n      when: error_rate > 0.5\n      actions: [page]\n", "actions"),
    ],
)
def test_bad_alerts_in_the_spec_are_errors_with_a_line(extra: str, words: str) -> None:
    with pytest.raises(SpecError, match=words) as err:
        parse_spec(SPEC.format(extra=extra), "shipyard.yaml")
    assert "shipyard.yaml:" in err.value.message


def test_export_prometheus_writes_files_promtool_accepts(tmp_path: Path) -> None:
    from test_serving import SHIPYARD

    project = tmp_path / "project"
    project.mkdir()
    (project / "shipyard.yaml").write_text(SPEC.format(extra=""))
    env = {"SHIPYARD_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [SHIPYARD, "export", "prometheus", "--out", "deploy", "--target", "10.0.0.5:8000"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "10.0.0.5:8000" in (project / "deploy" / "prometheus.yml").read_text()
    tested = promtool("test", "rules", project / "deploy" / TESTS_FILE)
    assert tested.returncode == 0, tested.stdout + tested.stderr

    (project / "shipyard.yaml").write_text(SPEC.split("monitor:")[0])
    empty = subprocess.run(
        [SHIPYARD, "export", "prometheus", "--out", "deploy"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert empty.returncode == 2 and "no alerts to export" in empty.stderr


def test_sparklines_scale_to_the_values_and_leave_gaps_for_no_data() -> None:
    from shipyard.cli.metrics import sparkline

    assert sparkline([0, 1, 2, None, 7, 3.5]) == "▁▂▃ █▄"
    assert sparkline([None, None]) == "  "
    assert sparkline([5, 5]) == "▁▁"
