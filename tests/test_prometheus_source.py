"""`monitor.prometheus_url`: alert rules and canary analysis read from a real Prometheus
(Debian's, on 127.0.0.1) scraping a real deployment, instead of the control plane's
own scraper."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy_helpers import ControlPlane, Load, echo_home, free_port
from prometheus_helpers import start_prometheus


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    # the control plane's own scraper is too slow for any rule window below: a value
    # can only come from Prometheus
    plane = ControlPlane(echo_home(tmp_path), free_port(), scrape_interval=60)
    plane.start()
    yield plane
    plane.cleanup()


def deploy(cp: ControlPlane, port: int, version: int = 1) -> None:
    cp.api("POST", "deployments", {"model": "echo", "version": version, "port": port})
    cp.wait_for(lambda s: s["stable"] == version and s["in_sync"])


def watch(cp: ControlPlane, url: str, alerts: list[dict[str, Any]]) -> None:
    monitor = {"alerts": alerts, "prometheus_url": url, "evaluation_interval": "1s"}
    cp.api("PUT", "deployments/echo/monitor", {"monitor": monitor})


def test_rules_are_evaluated_through_prometheus(cp: ControlPlane, tmp_path: Path) -> None:
    port = free_port()
    deploy(cp, port)
    with start_prometheus(tmp_path, [f"127.0.0.1:{port}"]) as prometheus:
        watch(cp, prometheus.url, [{"name": "Busy", "when": "requests > 5", "window": "5s"}])
        with Load(port, clients=2):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                busy = {r["rule"]: r for r in cp.api("GET", "alerts")}["Busy"]
                if busy["state"] == "firing":
                    break
                time.sleep(0.3)
            rate = prometheus.query('sum(rate(shipyard_requests_total{deployment="echo"}[5s]))')
    assert busy["state"] == "firing", busy
    assert busy["value"] > 5 and float(rate[0]["value"][1]) > 5


def test_a_canary_is_analysed_through_prometheus(cp: ControlPlane, tmp_path: Path) -> None:
    port = free_port()
    deploy(cp, port)
    with start_prometheus(tmp_path, [f"127.0.0.1:{port}"]) as prometheus:
        watch(cp, prometheus.url, [])
        with Load(port, clients=2):
            canary = {
                "model": "echo",
                "version": 3,  # 0.1 s a call
                "strategy": "canary",
                "steps": [50, 100],
                "interval": 4,
                "analysis": {"rules": ["p95_latency < 50ms"]},
            }
            cp.api("POST", "deployments", canary)
            status = cp.wait_for(lambda s: not s["rollout"]["active"], seconds=60)
    assert status["rollout"]["state"] == "aborted" and status["stable"] == 1
    analysis = status["rollout"]["analysis"]
    assert analysis["new"]["requests"] >= 20 and analysis["new"]["p95_latency"] > 0.05


def test_a_prometheus_that_does_not_answer_holds_the_canary_and_says_why(
    cp: ControlPlane,
) -> None:
    port = free_port()
    deploy(cp, port)
    watch(cp, f"http://127.0.0.1:{free_port()}", [])  # nothing listens there
    canary = {"model": "echo", "version": 2, "strategy": "canary", "steps": [50, 100],
              "interval": 1}  # fmt: skip
    with Load(port, clients=1):
        cp.api("POST", "deployments", canary)
        status = cp.wait_for(lambda s: bool(s.get("problem")), seconds=30)
    assert "Prometheus at http://127.0.0.1" in status["problem"]
    assert status["rollout"]["active"] and status["stable"] == 1
    cp.api("POST", "deployments/echo/abort", {})
