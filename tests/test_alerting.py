"""Alerts in the control plane, end to end: real model servers, a real control plane, a
real webhook receiver on 127.0.0.1, real load."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy_helpers import ControlPlane, Load, echo_home, free_port, register_echo
from webhook_helpers import webhook

FAILING = "raise RuntimeError('corrupted weights')"


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(echo_home(tmp_path), free_port(), scrape_interval=0.5)
    plane.start()
    yield plane
    plane.cleanup()


def watch(cp: ControlPlane, alerts: list[dict[str, Any]], hook: str, **extra: Any) -> None:
    monitor = {"alerts": alerts, "notify": [{"webhook": hook, "retries": 1}], **extra}
    cp.api("PUT", "deployments/echo/monitor", {"monitor": monitor, "project": None})


def deploy(cp: ControlPlane, version: int) -> int:
    """Deploy (or roll to) ``version``; the deployment's port."""
    cp.api("POST", "deployments", {"model": "echo", "version": version, "port": PORT[0]})
    cp.wait_for(lambda s: s["stable"] == version and s["in_sync"] and not s["rollout"]["active"])
    return PORT[0]


PORT = [free_port()]


def history(cp: ControlPlane) -> list[dict[str, Any]]:
    out = cp.cli("alerts", "history", "--json", "--limit", "1000")
    assert out.returncode == 0, out.stderr
    events: list[dict[str, Any]] = json.loads(out.stdout)
    return events


def test_a_failing_model_is_rolled_back_by_its_alert_and_the_webhook_hears_it(
    cp: ControlPlane, tmp_path: Path
) -> None:
    bad = register_echo(cp.home, tmp_path, 9.0, "pass", predict=FAILING)
    port = deploy(cp, 1)
    rule = {
        "name": "HighErrorRate",
        "when": "error_rate > 0.2",
        "window": "5s",
        "severity": "critical",
        "actions": ["rollback", "notify"],
    }
    with webhook() as hook:
        watch(cp, [rule], hook.url)
        with Load(port, clients=2) as load:
            load.wait(200)
            cp.api("POST", "deployments", {"model": "echo", "version": bad})
            status = cp.wait_for(
                lambda s: (
                    s["stable"] == 1
                    and s["in_sync"]  # the server holds the rolled-back routes
                    and not s["rollout"]["active"]
                    and s["last_change"]["kind"] == "deployment.rolled_back"
                ),
                seconds=60,
            )
            load.wait(50)  # requests in flight at the switch are answered
            failed_at = len(load.failures)
            load.wait(300)
            assert len(load.failures) == failed_at, "requests still fail after the rollback"
        firing = hook.wait_for(lambda b: b["status"] == "firing")
        assert firing["alert"]["name"] == "HighErrorRate"
        assert firing["alert"]["deployment"] == "echo" and firing["alert"]["value"] > 0.2

    # every failure was the bad model's own answer, none a dropped request
    assert load.failures and all("HTTP 500" in f and "corrupted" in f for f in load.failures)
    assert load.answers[1.0] > 0
    rolled = cp.events("deployment.rolled_back")
    assert len(rolled) == 1
    assert rolled[0]["actor"] == "alert:HighErrorRate"
    assert "alert HighErrorRate: error_rate > 0.2" in rolled[0]["data"]["reason"]
    assert status["last_change"]["actor"] == "alert:HighErrorRate"

    kinds = [e["kind"] for e in history(cp)]
    assert "alert.firing" in kinds and "alert.action" in kinds and "alert.notified" in kinds
    action = next(e for e in history(cp) if e["kind"] == "alert.action")
    assert (action["action"], action["from_version"], action["to_version"]) == ("rollback", bad, 1)
    listed = json.loads(cp.cli("alerts", "list", "--json").stdout)
    assert [(r["deployment"], r["rule"]) for r in listed] == [("echo", "HighErrorRate")]


def test_an_alert_never_rolls_back_its_own_rollback(cp: ControlPlane, tmp_path: Path) -> None:
    """The version rolled back to fails too: once the alert has resolved (no traffic) and
    fires again in a new episode, the rollback is declined instead of walking further back."""
    first_bad = register_echo(cp.home, tmp_path, 8.0, "pass", predict=FAILING)
    second_bad = register_echo(cp.home, tmp_path, 9.0, "pass", predict=FAILING)
    port = deploy(cp, first_bad)
    rule = {"name": "Errors", "when": "error_rate > 0.2", "window": "2s", "actions": ["rollback"]}
    with webhook() as hook:
        watch(cp, [rule], hook.url, cooldown="1s")
        with Load(port, clients=2):
            cp.api("POST", "deployments", {"model": "echo", "version": second_bad})
            # the deploy is accepted at once (stable is still first_bad then): wait for the
            # alert's own rollback, not for a status that already holds
            wait_until(cp, lambda kinds: "alert.action" in kinds, seconds=60)
            cp.wait_for(lambda s: s["stable"] == first_bad, seconds=60)
        wait_until(cp, lambda kinds: "alert.resolved" in kinds)
        with Load(port, clients=2):
            wait_until(cp, lambda kinds: "alert.action_skipped" in kinds)
    events = history(cp)
    skipped = [e for e in events if e["kind"] == "alert.action_skipped"]
    assert "does not roll back a rollback" in skipped[0]["why"]
    assert [e["episode"] for e in events if e["kind"] == "alert.firing"] == [1, 2]
    assert len([e for e in events if e["kind"] == "alert.action"]) == 1
    assert cp.status()["stable"] == first_bad
    older = cp.api("GET", f"alerts/history?before={events[-1]['id']}")  # a page further back
    assert [e["id"] for e in older] == [e["id"] for e in events[:-1]]


def wait_until(cp: ControlPlane, check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check([e["kind"] for e in history(cp)]):
            return
        time.sleep(0.3)
    raise AssertionError(f"not reached; history: {history(cp)}")


def test_a_webhook_that_answers_500_is_retried_and_shown_failed_in_history(
    cp: ControlPlane,
) -> None:
    deploy(cp, 1)
    rule = {"name": "Flood", "when": "requests > 100000", "window": "2s"}  # stays quiet
    with webhook() as hook:
        hook.status = 500
        watch(cp, [rule], hook.url)
        tested = cp.cli("alerts", "test", "Flood")
        assert tested.returncode == 1
        assert "NOT delivered" in tested.stdout and "HTTP 500" in tested.stdout
        assert len(hook.bodies) == 2  # the first attempt and one retry
        assert hook.bodies[0]["status"] == "test"
    failed = [e for e in history(cp) if e["kind"] == "alert.notify_failed"]
    assert failed[0]["error"] == "HTTP 500" and failed[0]["attempts"] == 2


def test_a_webhook_that_times_out_does_not_hold_up_evaluation(cp: ControlPlane) -> None:
    deploy(cp, 1)
    rules = [
        {"name": "NoTraffic", "when": "requests < 1", "window": "2s"},
        {"name": "Quiet", "when": "requests < 5", "window": "2s"},
    ]
    with webhook() as hook:
        hook.delay = 3.0
        monitor = {
            "alerts": rules,
            "notify": [{"webhook": hook.url, "timeout": "0.5s", "retries": 0}],
        }
        cp.api("PUT", "deployments/echo/monitor", {"monitor": monitor, "project": None})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = {r["rule"]: r["state"] for r in cp.api("GET", "alerts")}
            failed = [e for e in history(cp) if e["kind"] == "alert.notify_failed"]
            if states == {"NoTraffic": "firing", "Quiet": "firing"} and len(failed) == 2:
                break
            time.sleep(0.2)
    assert states == {"NoTraffic": "firing", "Quiet": "firing"}
    assert {e["error"] for e in failed} == {"no answer within 0.5 s"}


def test_metrics_that_cannot_be_read_raise_metrics_unavailable_and_keep_rule_states(
    cp: ControlPlane,
) -> None:
    deploy(cp, 1)
    rule = {"name": "NoTraffic", "when": "requests < 1", "window": "2s"}
    with webhook() as hook:
        watch(cp, [rule], hook.url, unavailable_after="1s")
        hook.wait_for(lambda b: b["alert"]["name"] == "NoTraffic" and b["status"] == "firing")
        status = cp.status()
        hung = [status["process"]["pid"], *(w["pid"] for w in status["observed"]["workers"])]
        for pid in hung:
            os.kill(pid, signal.SIGSTOP)  # alive, but /metrics does not answer
        try:
            unavailable = hook.wait_for(lambda b: b["alert"]["name"] == "MetricsUnavailable")
            rules = {r["rule"]: r["state"] for r in cp.api("GET", "alerts")}
        finally:
            for pid in hung:
                os.kill(pid, signal.SIGCONT)
        assert unavailable["status"] == "firing"
        assert rules == {"NoTraffic": "firing", "MetricsUnavailable": "firing"}
        hook.wait_for(
            lambda b: b["alert"]["name"] == "MetricsUnavailable" and b["status"] == "resolved"
        )
    assert not any(e["kind"] == "alert.resolved" and e["rule"] == "NoTraffic" for e in history(cp))


def test_attaching_a_monitor_with_a_bad_rule_is_refused_with_where_and_what(
    cp: ControlPlane,
) -> None:
    deploy(cp, 1)
    bad = {"alerts": [{"name": "Slow", "when": "p99_latency > 250"}]}
    refused = cp.refused("PUT", "deployments/echo/monitor", {"monitor": bad})
    assert refused.status == 400 and "give the threshold a unit" in str(refused)
    unknown = {"alerts": [{"name": "X", "when": "gpu_temp > 80"}]}
    refused = cp.refused("PUT", "deployments/echo/monitor", {"monitor": unknown})
    assert refused.status == 400 and "unknown metric 'gpu_temp'" in str(refused)
    assert cp.api("GET", "alerts") == []


def test_a_rule_whose_window_cannot_hold_two_samples_is_attached_with_a_warning(
    cp: ControlPlane,
) -> None:
    deploy(cp, 1)
    monitor = {
        "alerts": [{"name": "Blink", "when": "requests < 1", "window": "5s"}],
        "prometheus_url": "http://127.0.0.1:9",
        "evaluation_interval": "5s",
    }
    attached = cp.api("PUT", "deployments/echo/monitor", {"monitor": monitor})
    assert attached["rules"] == ["Blink"]
    assert "never judged; make it at least 10 s" in attached["warnings"][0]
