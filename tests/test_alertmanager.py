"""Shipyard's alerts reach a real Alertmanager: a real control plane and model server post
to Alertmanager's ``/api/v2/alerts`` (the ``alertmanager`` notify format), ``amtool`` reads
the alerts back, and Alertmanager's own route forwards them to a webhook receiver on
127.0.0.1 — firing, then resolved.

``make test`` installs Alertmanager and amtool (``scripts/system-deps.sh amtool``, Debian's
``prometheus-alertmanager``); a missing binary fails these tests rather than skipping them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from deploy_helpers import ControlPlane, Load, echo_home, free_port
from prometheus_helpers import Daemon
from webhook_helpers import Receiver, webhook

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")
HINT = "run `bash scripts/system-deps.sh amtool` (Debian's prometheus-alertmanager)"


@dataclass
class Alertmanager(Daemon):
    """A running Alertmanager, ``amtool`` pointed at it, and the receiver its route posts to."""

    receiver: Receiver
    name: ClassVar[str] = "alertmanager"

    def amtool(self, *args: str) -> Any:
        """``amtool ARGS -o json`` against this Alertmanager, parsed."""
        assert AMTOOL is not None
        out = subprocess.run(
            [AMTOOL, f"--alertmanager.url={self.url}", *args, "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, f"amtool {args}: {out.stderr}\n{self.log()}"
        return json.loads(out.stdout)

    def alerts(self, *matchers: str) -> list[dict[str, Any]]:
        """The active alerts ``amtool alert query MATCHERS`` finds."""
        found: list[dict[str, Any]] = self.amtool("alert", "query", *matchers)
        return found

    def wait_alerts(self, *matchers: str, seconds: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.alerts(*matchers)
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no alert {matchers} in Alertmanager:\n{self.log()}")


@pytest.fixture
def am(tmp_path: Path) -> Iterator[Alertmanager]:
    """Alertmanager on 127.0.0.1, clustering off, routing everything to a webhook receiver."""
    if ALERTMANAGER is None or AMTOOL is None:
        pytest.fail(f"Alertmanager or amtool is not installed: {HINT}")
    directory = tmp_path / "alertmanager"
    directory.mkdir()
    with webhook("/alertmanager") as receiver:
        config = {
            "route": {
                "receiver": "hook",
                "group_by": ["alertname", "deployment"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "hook", "webhook_configs": [{"url": receiver.url, "send_resolved": True}]}
            ],
        }
        (directory / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        with (directory / "alertmanager.log").open("ab") as log:
            proc = subprocess.Popen(
                [
                    ALERTMANAGER,
                    f"--config.file={directory / 'alertmanager.yml'}",
                    f"--storage.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Alertmanager(f"http://127.0.0.1:{port}", proc, directory, receiver)
        try:
            server.wait_ready()
            yield server
        finally:
            server.stop()


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(echo_home(tmp_path), free_port(), scrape_interval=0.5)
    plane.start()
    yield plane
    plane.cleanup()


NO_TRAFFIC = {
    "name": "NoTraffic",
    "when": "requests < 1",
    "window": "2s",
    "severity": "critical",
    "labels": {"team": "ml"},
}


def deploy_watched(cp: ControlPlane, am: Alertmanager, rule: dict[str, Any]) -> int:
    """Deploy echo v1 watched by ``rule``, notifying Alertmanager; the deployment's port."""
    port = free_port()
    cp.api("POST", "deployments", {"model": "echo", "version": 1, "port": port})
    cp.wait_for(lambda s: s["stable"] == 1 and s["in_sync"] and not s["rollout"]["active"])
    channel = {"webhook": f"{am.url}/api/v2/alerts", "format": "alertmanager", "retries": 1}
    monitor = {"alerts": [rule], "notify": [channel]}
    cp.api("PUT", "deployments/echo/monitor", {"monitor": monitor, "project": None})
    return port


def forwarded(am: Alertmanager, status: str, alertname: str) -> dict[str, Any]:
    """The alert Alertmanager's route posted to its receiver with that status."""
    body = am.receiver.wait_for(
        lambda b: any(
            a["status"] == status and a["labels"]["alertname"] == alertname for a in b["alerts"]
        )
    )
    alert: dict[str, Any] = next(
        a for a in body["alerts"] if a["status"] == status and a["labels"]["alertname"] == alertname
    )
    return alert


def when(stamp: str) -> datetime:
    """An RFC 3339 time as Alertmanager writes it (nanoseconds cut to microseconds)."""
    head, _, tail = stamp.rstrip("Z").partition(".")
    fraction = tail[:6].split("+")[0].split("-")[0]
    moment = datetime.fromisoformat(head + (f".{fraction}" if fraction else ""))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def test_an_alert_fires_and_resolves_in_a_real_alertmanager(
    cp: ControlPlane, am: Alertmanager
) -> None:
    port = deploy_watched(cp, am, NO_TRAFFIC)

    # no traffic: the rule fires and Alertmanager holds the alert
    [held] = am.wait_alerts("alertname=NoTraffic")
    assert held["labels"] == {
        "alertname": "NoTraffic",
        "deployment": "echo",
        "model": "echo",
        "severity": "critical",
        "team": "ml",
    }
    assert held["annotations"]["summary"] == "NoTraffic: requests < 1"
    assert held["status"]["state"] == "active"
    assert held["generatorURL"] == "shipyard://deployments/echo/alerts/NoTraffic"
    assert am.alerts("team=ml", "severity=critical") == [held]

    # … and routes it to its own receiver
    firing = forwarded(am, "firing", "NoTraffic")
    assert firing["labels"] == held["labels"]
    assert firing["annotations"]["summary"] == "NoTraffic: requests < 1"

    # traffic: the rule resolves, Alertmanager hears it and says so to its receiver
    with Load(port, clients=1) as load:
        load.wait(20)
        resolved = forwarded(am, "resolved", "NoTraffic")
    assert resolved["labels"] == held["labels"]
    assert when(resolved["endsAt"]) <= datetime.now(UTC)
    assert when(resolved["startsAt"]) <= when(resolved["endsAt"])
    assert am.alerts("alertname=NoTraffic") == []  # no longer active
    events = [e["kind"] for e in cp.api("GET", "events?limit=1000")]
    assert "alert.notify_failed" not in events, "Alertmanager refused a Shipyard alert"


def test_alerts_test_reaches_alertmanager_marked_as_a_test(
    cp: ControlPlane, am: Alertmanager
) -> None:
    quiet = {**NO_TRAFFIC, "name": "Flood", "when": "requests > 100000"}  # never fires
    deploy_watched(cp, am, quiet)
    tested = cp.cli("alerts", "test", "Flood")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    [held] = am.wait_alerts("alertname=Flood", "shipyard_test=true")
    assert held["labels"]["shipyard_test"] == "true"
    assert held["labels"]["deployment"] == "echo" and held["labels"]["team"] == "ml"
    assert held["annotations"]["summary"] == "Flood: requests > 100000"
    assert forwarded(am, "firing", "Flood")["labels"]["shipyard_test"] == "true"
