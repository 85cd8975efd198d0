"""The `retrain` alert action, end to end: a real control plane evaluates a firing rule and
starts the project's pipeline (`shipyard run --force train`) in the project directory the
monitor names; without a project, or within the cool-down, the action is declined and
recorded, and evaluation goes on."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import committed_project
from deploy_helpers import ControlPlane, Load, free_port
from test_serving import SHIPYARD
from webhook_helpers import webhook

# Every training appends a line to trained.txt, so a test can count how often it ran.
TRAIN = """\
import json, pathlib
rows = pathlib.Path("data.csv").read_text().split()
out = pathlib.Path("model")
out.mkdir(exist_ok=True)
(out / "model.py").write_text(
    "class Toy:\\n"
    "    def load(self, path):\\n        pass\\n"
    "    def predict(self, xs):\\n        return [[x[0] * 2] for x in xs]\\n"
)
pathlib.Path("metrics.json").write_text(json.dumps({"rows": len(rows)}))
with open("trained.txt", "a") as marker:
    marker.write("trained\\n")
"""

SPEC = """\
model:
  name: toy
  flavor: custom
  path: model
  entrypoint: model:Toy
train:
  command: python train.py
  deps: [train.py, data.csv]
deploy:
  strategy: recreate
  port: {port}
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ControlPlane, Path, int]]:
    """A control plane, and a tiny project whose first run deployed ``toy`` v1."""
    port = free_port()
    root = committed_project(
        tmp_path / "toy",
        {
            "shipyard.yaml": SPEC.format(port=port),
            "train.py": TRAIN,
            "data.csv": "1\n2\n3\n",
            ".gitignore": "model/\nmetrics.json\ntrained.txt\n.shipyard/\n",
        },
    )
    plane = ControlPlane(tmp_path / "home", free_port(), scrape_interval=0.5)
    plane.start()
    try:
        first = subprocess.run(
            [SHIPYARD, "run"], cwd=root, env=plane.env, capture_output=True, text=True, timeout=120
        )
        assert first.returncode == 0, first.stdout + first.stderr
        plane.wait_for(lambda s: s["stable"] == 1 and s["in_sync"], name="toy")
        yield plane, root, port
    finally:
        plane.cleanup()


def attach(
    cp: ControlPlane, project: Path | None, alerts: list[dict[str, Any]], **extra: Any
) -> None:
    monitor = {"alerts": alerts, **extra}
    body = {"monitor": monitor, "project": None if project is None else str(project)}
    cp.api("PUT", "deployments/toy/monitor", body)


def history(cp: ControlPlane) -> list[dict[str, Any]]:
    out = cp.cli("alerts", "history", "--json", "--limit", "1000")
    assert out.returncode == 0, out.stderr
    events: list[dict[str, Any]] = json.loads(out.stdout)
    return events


def wait_for_event(cp: ControlPlane, check: Any, seconds: float = 30) -> dict[str, Any]:
    """The first alert event ``check`` accepts, waiting for it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [e for e in history(cp) if check(e)]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no such event; history: {history(cp)}")


def runs(cp: ControlPlane) -> list[dict[str, Any]]:
    out = cp.cli("runs", "list", "--json", "--limit", "100")
    assert out.returncode == 0, out.stderr
    found: list[dict[str, Any]] = json.loads(out.stdout)
    return found


def wait_for_run(cp: ControlPlane, trigger: str, seconds: float = 60) -> dict[str, Any]:
    """The finished run started by ``trigger``, waiting for it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [r for r in runs(cp) if r["trigger"] == trigger]
        if found and found[0]["status"] != "running":
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no finished run triggered by {trigger}: {runs(cp)}")


def test_a_firing_alert_with_retrain_starts_the_projects_pipeline(
    setup: tuple[ControlPlane, Path, int],
) -> None:
    cp, root, _ = setup
    assert (root / "trained.txt").read_text().splitlines() == ["trained"]
    rule = {"name": "NoTraffic", "when": "requests < 1", "window": "2s", "actions": ["retrain"]}
    attach(cp, root, [rule])

    action = wait_for_event(cp, lambda e: e["kind"] == "alert.action")
    assert action["action"] == "retrain" and action["rule"] == "NoTraffic"
    assert action["project"] == str(root) and action["pid"] > 0
    log = Path(action["log"])
    assert log.parent == cp.home / "logs" / "retrain" and log.name.startswith("toy-")

    run = wait_for_run(cp, "alert:NoTraffic")
    assert run["status"] == "succeeded", log.read_text()
    assert run["project"] == str(root) and run["model"] == "toy"
    stages = {s["name"]: s["status"] for s in run["stages"]}
    assert stages["train"] == "succeeded"  # forced: run again, not taken from the cache
    assert (root / "trained.txt").read_text().splitlines() == ["trained", "trained"]
    assert [r["trigger"] for r in runs(cp)] == ["alert:NoTraffic", "cli"]
    assert '"run.finished"' in log.read_text()  # the run's --json lines went to the log
    assert cp.status("toy")["stable"] == 1  # the same model again: nothing new to roll out
    assert not [e for e in history(cp) if e["kind"] == "alert.action_failed"]


def test_retrain_without_a_project_is_recorded_as_failed_not_crashing(
    setup: tuple[ControlPlane, Path, int],
) -> None:
    cp, _, _ = setup
    rules: list[dict[str, Any]] = [
        {"name": "Retrain", "when": "requests < 1", "window": "2s", "actions": ["retrain"]},
        {"name": "Quiet", "when": "requests < 5", "window": "3s"},  # notifies, a bit later
    ]
    with webhook() as hook:
        attach(cp, None, rules, notify=[{"webhook": hook.url, "retries": 0}])
        failed = wait_for_event(cp, lambda e: e["kind"] == "alert.action_failed")
        notified = hook.wait_for(lambda b: b["alert"]["name"] == "Quiet")
    assert failed["rule"] == "Retrain" and failed["action"] == "retrain"
    assert "no project to retrain" in failed["error"]
    assert "monitor names none" in failed["error"]
    assert notified["status"] == "firing"
    assert cp.proc is not None and cp.proc.poll() is None  # the control plane lives on
    states = {r["rule"]: r["state"] for r in cp.api("GET", "alerts")}
    assert states == {"Retrain": "firing", "Quiet": "firing"}
    assert not [e for e in history(cp) if e["kind"] == "alert.action"]
    assert [r["trigger"] for r in runs(cp)] == ["cli"]  # no pipeline was started


def test_retrain_waits_out_its_cooldown(setup: tuple[ControlPlane, Path, int]) -> None:
    cp, root, port = setup
    rule = {"name": "NoTraffic", "when": "requests < 1", "window": "2s", "actions": ["retrain"]}
    attach(cp, root, [rule], cooldown="1h")
    wait_for_event(cp, lambda e: e["kind"] == "alert.action")
    with Load(port, clients=1, model="toy"):  # traffic: the alert resolves …
        wait_for_event(cp, lambda e: e["kind"] == "alert.resolved")
    # … and with none again it fires in a second episode, well within the cool-down
    skipped = wait_for_event(cp, lambda e: e["kind"] == "alert.action_skipped")
    assert skipped["action"] == "retrain" and skipped["rule"] == "NoTraffic"
    assert "cool-down" in skipped["why"] and "cooldown 3600 s" in skipped["why"]
    events = history(cp)
    assert [e["episode"] for e in events if e["kind"] == "alert.firing"] == [1, 2]
    assert len([e for e in events if e["kind"] == "alert.action"]) == 1
    run = wait_for_run(cp, "alert:NoTraffic")  # the first episode's run, and only that one
    assert run["status"] == "succeeded"
    assert [r["trigger"] for r in runs(cp)] == ["alert:NoTraffic", "cli"]


def rules_listed(cp: ControlPlane, cwd: Path, deployment: str = "toy") -> list[str]:
    listed = subprocess.run(
        [SHIPYARD, "alerts", "list", "--json", "--deployment", deployment], cwd=cwd,
        env=cp.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    return [r["rule"] for r in json.loads(listed.stdout)]


def shipyard(cp: ControlPlane, cwd: Path, *args: str) -> None:
    done = subprocess.run(
        [SHIPYARD, *args], cwd=cwd, env=cp.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_projects_rules_are_attached_by_run_apply_and_deploy(
    setup: tuple[ControlPlane, Path, int],
) -> None:
    cp, root, _ = setup
    spec = root / "shipyard.yaml"
    plain = spec.read_text()

    def watch_with(rule: str) -> None:
        spec.write_text(
            plain + f"monitor:\n  alerts:\n    - {{name: {rule}, when: requests > 1000}}\n"
        )

    watch_with("ByRun")
    shipyard(cp, root, "run")  # the deploy stage attaches the project's rules
    assert rules_listed(cp, root) == ["ByRun"]
    watch_with("ByApply")
    shipyard(cp, root, "alerts", "apply")
    assert rules_listed(cp, root) == ["ByApply"]
    watch_with("ByDeploy")  # a second deployment of the model, deployed from the project
    shipyard(cp, root, "deploy", "toy", "--version", "1", "--name", "toy-b",
             "--port", str(free_port()))  # fmt: skip
    assert rules_listed(cp, root, "toy-b") == ["ByDeploy"]
    assert rules_listed(cp, root) == ["ByApply"]
