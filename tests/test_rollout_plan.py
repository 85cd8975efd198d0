"""Rollout plans, the state machine's transitions, canary analysis and the deploy store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from shipyard.deploy import rollout as machine
from shipyard.deploy.analysis import analyze, quantile, totals, window
from shipyard.deploy.plan import AnalysisPolicy, Plan, build_plan
from shipyard.errors import ConflictError, InvalidInputError
from shipyard.expressions.rollout_steps import parse_rule, parse_steps
from shipyard.store import DeploymentRecord, Desired, RolloutRecord, open_stores
from shipyard.targets.local_process import rotate


def test_canary_steps_end_at_100_and_pause_without_an_interval() -> None:
    plan = build_plan("canary", steps=parse_steps("10,50"))
    assert [s.weight for s in plan.steps] == [10, 50, 100]
    assert [s.pause for s in plan.steps[:-1]] == [None, None]
    timed = build_plan("canary", steps=(25,), interval=30.0)
    assert [(s.weight, s.pause, s.analyze) for s in timed.steps] == [
        (25, 30.0, True),
        (100, 0.0, False),
    ]


def test_blue_green_smoke_tests_before_the_switch_and_shadow_waits_for_a_person() -> None:
    assert [(s.weight, s.verify) for s in build_plan("blue-green").steps] == [
        (0, True),
        (100, False),
    ]
    shadow = build_plan("shadow", shadow_percent=20, interval=60.0).steps
    assert [(s.weight, s.shadow, s.pause, s.analyze) for s in shadow] == [
        (0, 20, 60.0, True),
        (0, 20, None, False),
        (100, 0, 0.0, False),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("50,20", "must increase"), ("0,50", "from 1 to 100"), ("ten", "separated by commas")],
)
def test_bad_steps_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_steps(text)


def test_a_plan_survives_being_stored() -> None:
    policy = AnalysisPolicy(max_p99_latency=0.25, rules=("p95_latency < 100ms",))
    plan = build_plan("canary", steps=(10, 100), interval=5.0, analysis=policy)
    assert Plan.from_data(plan.to_data()) == plan


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latency < 1s", "unknown metric"),
        ("p99_latency < fast", "duration"),
        ("error_rate ~ 0.1", "METRIC OP THRESHOLD"),
    ],
)
def test_bad_analysis_rules_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_rule(text)


def test_rules_read_units() -> None:
    assert parse_rule("p99_latency < 250ms").threshold == pytest.approx(0.25)
    assert parse_rule("error_rate <= 0.02").threshold == 0.02


@pytest.mark.parametrize(
    ("state", "to"),
    [(state, to) for state, targets in machine.TRANSITIONS.items() for to in targets],
)
def test_every_allowed_transition_has_a_reason(state: str, to: str) -> None:
    assert machine.check_transition(state, to)


@pytest.mark.parametrize(
    ("state", "to"),
    [
        ("succeeded", "progressing"),
        ("aborted", "succeeded"),
        ("failed", "loading"),
        ("paused", "failed"),
        ("progressing", "loading"),
    ],
)
def test_transitions_outside_the_table_are_refused(state: str, to: str) -> None:
    with pytest.raises(ConflictError, match=f"cannot become {to}"):
        machine.check_transition(state, to)


def test_finished_states_have_no_way_out() -> None:
    for state in machine.FINISHED:
        assert state not in machine.TRANSITIONS


METRICS = """
# TYPE shipyard_requests_total counter
shipyard_requests_total{{version="1",code="200"}} {ok1}
shipyard_requests_total{{version="2",code="200"}} {ok2}
shipyard_requests_total{{version="2",code="500"}} {err2}
# TYPE shipyard_request_duration_seconds histogram
shipyard_request_duration_seconds_bucket{{version="1",le="0.01"}} {ok1}
shipyard_request_duration_seconds_bucket{{version="1",le="+Inf"}} {ok1}
shipyard_request_duration_seconds_bucket{{version="2",le="0.01"}} {fast2}
shipyard_request_duration_seconds_bucket{{version="2",le="0.5"}} {all2}
shipyard_request_duration_seconds_bucket{{version="2",le="+Inf"}} {all2}
"""


def page(ok1: int, ok2: int, err2: int, fast2: int) -> str:
    return METRICS.format(ok1=ok1, ok2=ok2, err2=err2, fast2=fast2, all2=ok2 + err2)


def test_quantiles_interpolate_within_buckets_as_prometheus_does() -> None:
    assert quantile(0.5, {"0.1": 50, "0.2": 100, "+Inf": 100}) == pytest.approx(0.1)
    assert quantile(0.75, {"0.1": 50, "0.2": 100, "+Inf": 100}) == pytest.approx(0.15)
    assert quantile(0.99, {"0.1": 0, "+Inf": 10}) == pytest.approx(0.1)
    assert quantile(0.99, {"+Inf": 0}) is None


def test_analysis_judges_the_window_not_the_totals() -> None:
    before = totals(page(ok1=1000, ok2=0, err2=50, fast2=0))  # old errors, before the step
    now = totals(page(ok1=1900, ok2=100, err2=50, fast2=100))
    result = analyze(AnalysisPolicy(), "2", "1", window(before, now), shadow=False)
    assert result.verdict == "pass", result.failures()
    assert result.new.requests == 100 and result.new.error_rate == 0


def test_analysis_fails_on_errors_and_on_latency_against_stable() -> None:
    span = window({}, totals(page(ok1=900, ok2=95, err2=5, fast2=10)))
    result = analyze(AnalysisPolicy(), "2", "1", span, shadow=False)
    assert result.verdict == "fail"
    failed = {c.name for c in result.checks if not c.ok}
    assert failed == {
        "error_rate",
        "error_rate_vs_stable",
        "p95_latency_vs_stable",
        "p99_latency_vs_stable",
    }


def test_p99_against_stable_needs_a_hundred_requests() -> None:
    span = window({}, totals(page(ok1=900, ok2=50, err2=0, fast2=47)))
    result = analyze(AnalysisPolicy(), "2", "1", span, shadow=False)
    names = {c.name for c in result.checks}
    assert "p95_latency_vs_stable" in names and "p99_latency_vs_stable" not in names


def test_too_few_requests_is_inconclusive_never_healthy() -> None:
    span = window({}, totals(page(ok1=900, ok2=3, err2=0, fast2=3)))
    result = analyze(AnalysisPolicy(min_requests=20), "2", "1", span, shadow=False)
    assert result.verdict == "inconclusive" and "3 requests" in result.note


def test_a_rule_from_the_policy_is_checked() -> None:
    span = window({}, totals(page(ok1=100, ok2=100, err2=0, fast2=100)))
    strict = AnalysisPolicy(rules=("p99_latency < 5ms",))
    result = analyze(strict, "2", "1", span, shadow=False)
    assert result.verdict == "fail" and "p99_latency < 5ms" in result.failures()


def test_a_restarted_server_counts_from_zero() -> None:
    before = totals(page(ok1=5000, ok2=5000, err2=0, fast2=5000))
    now = totals(page(ok1=100, ok2=40, err2=0, fast2=40))
    assert window(before, now)["2"]["requests"] == 40


def test_a_reset_counts_every_series_of_the_version_from_zero() -> None:
    before = totals(page(ok1=10, ok2=1000, err2=10, fast2=1000))
    now = totals(page(ok1=20, ok2=1195, err2=5, fast2=1195))  # errors went down: a restart
    span = window(before, now)["2"]
    assert (span["requests"], span["errors"]) == (1200, 5)
    assert span["buckets"]["+Inf"] == 1200


def _record(name: str = "d") -> DeploymentRecord:
    return DeploymentRecord(
        name,
        "m",
        "local",
        "127.0.0.1",
        8000,
        1,
        "production",
        600.0,
        {},
        Desired({"1": 100}),
        1,
        (1,),
        0,
        "t",
        "t",
    )


def _rollout(name: str = "d") -> RolloutRecord:
    return RolloutRecord(
        0,
        name,
        "canary",
        1,
        2,
        build_plan("canary").to_data(),
        "loading",
        0,
        None,
        {},
        {},
        None,
        "me",
        "",
        "t",
        None,
    )


def test_the_store_allows_one_unfinished_rollout_per_deployment(tmp_path: Path) -> None:
    stores = open_stores(tmp_path)
    stores.deploy.create_deployment(_record(), "me", "test")
    _, first = stores.deploy.record("rollout.started", "me", "one", rollout=_rollout())
    with pytest.raises(ConflictError, match="rollout in progress"):
        stores.deploy.record("rollout.started", "me", "two", rollout=_rollout())
    assert first is not None
    stores.deploy.record(
        "rollout.aborted", "me", "done", rollout=replace(first, state="aborted", finished_at="t")
    )
    _, second = stores.deploy.record("rollout.started", "me", "again", rollout=_rollout())
    assert second is not None and second.id == first.id + 1
    stores.close()


def test_a_stale_deployment_write_is_refused(tmp_path: Path) -> None:
    stores = open_stores(tmp_path)
    stores.deploy.create_deployment(_record(), "me", "test")
    stale = stores.deploy.get_deployment("d")
    stores.deploy.record("deployment.traffic", "me", "first", deployment=stale)
    with pytest.raises(ConflictError, match="changed while"):
        stores.deploy.record("deployment.traffic", "me", "second", deployment=stale)
    events = stores.metadata.list_events()
    assert [e.kind for e in events] == ["deployment.created", "deployment.traffic"]
    stores.close()


def test_logs_rotate_by_copy_and_truncate(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    for n in range(4):
        log.write_bytes(bytes([65 + n]) * 200)
        assert rotate(log, max_bytes=100, keep=2)
    assert log.stat().st_size == 0
    assert (tmp_path / "d.log.1").read_bytes() == b"D" * 200
    assert (tmp_path / "d.log.2").read_bytes() == b"C" * 200
    assert not (tmp_path / "d.log.3").exists()
    assert not rotate(log, max_bytes=100)
