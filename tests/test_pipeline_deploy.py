"""`shipyard run` from commit to rollout: the deploy stage starts a rollout of the version the
run registered, and the verify stage's smoke requests take it back when an answer is wrong."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import committed_project
from deploy_helpers import ControlPlane, Load, free_port
from test_serving import SHIPYARD

TRAIN = """\
import json, os, pathlib
params = json.loads(os.environ.get("SHIPYARD_PARAMS", "{}"))
rows = pathlib.Path("data.csv").read_text().split()
out = pathlib.Path("model")
out.mkdir(exist_ok=True)
(out / "model.py").write_text(
    f"# trained on {len(rows)} rows\\n"
    "class Toy:\\n"
    "    def load(self, path):\\n        pass\\n"
    f"    def predict(self, xs):\\n        return [[x[0] * {params['scale']}] for x in xs]\\n"
)
pathlib.Path("metrics.json").write_text(json.dumps({"accuracy": 0.9}))
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
  params: {{scale: 2}}
deploy:
  strategy: canary
  steps: [50]
  port: {port}
  rollback_window: 5m
verify:
  samples:
    - input: [1.5]
      expect: [3.0]      # the prediction for that row
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ControlPlane, Path, int]]:
    port = free_port()
    root = committed_project(
        tmp_path / "toy",
        {
            "shipyard.yaml": SPEC.format(port=port),
            "train.py": TRAIN,
            "data.csv": "1\n2\n3\n",
            ".gitignore": "model/\nmetrics.json\n.shipyard/\n",
        },
    )
    plane = ControlPlane(tmp_path / "home", free_port())
    plane.start()
    yield plane, root, port
    plane.cleanup()


def run(plane: ControlPlane, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHIPYARD, "run", *args],
        cwd=root,
        env=plane.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_pipeline_with_a_deploy_stage_ends_in_a_verified_rollout(
    setup: tuple[ControlPlane, Path, int],
) -> None:
    plane, root, port = setup
    first = run(plane, root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "v1 serves all traffic" in first.stdout and "answered as expected" in first.stdout
    status = plane.status("toy")
    assert status["stable"] == 1 and status["url"].endswith(f":{port}")

    again = run(plane, root)  # nothing changed: nothing new to roll out
    assert again.returncode == 0 and "already serves v1" in again.stdout

    (root / "data.csv").write_text("1\n2\n3\n4\n")  # a new version with the same answers
    with Load(port, model="toy") as load:
        third = run(plane, root)
        assert third.returncode == 0, third.stdout + third.stderr
        assert "canary of v2" in third.stdout and "step 1/2" in third.stdout
        assert plane.status("toy")["desired"]["weights"] == {"1": 50, "2": 50}
        rerun = run(plane, root)  # the same candidate: follow its rollout, do not start another
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "canary of v2" in rerun.stdout
        assert len(plane.events("rollout.started")) == 2
        assert plane.cli("promote", "toy").returncode == 0
        load.wait(100)
    assert load.failures == []
    assert plane.status("toy")["stable"] == 2


def test_a_wrong_smoke_answer_fails_the_run_and_aborts_the_rollout(
    setup: tuple[ControlPlane, Path, int],
) -> None:
    plane, root, port = setup
    assert run(plane, root).returncode == 0
    with Load(port, model="toy") as load:
        bad = run(plane, root, "--param", "scale=3")  # answers 4.5 where 3.0 is expected
        load.wait(50)
    assert bad.returncode == 1
    assert "smoke request(s) failed; the rollout was aborted" in bad.stderr
    assert "expected [[3.0]], got [[4.5]]" in bad.stderr
    status = plane.status("toy")
    assert status["rollout"]["state"] == "aborted" and status["desired"]["weights"] == {"1": 100}
    assert load.failures == []
    assert set(load.recent) == {2.0}  # v1 (scale 2) again


def test_a_rollout_that_pauses_under_wait_ends_the_run_paused_with_its_own_exit_code(
    setup: tuple[ControlPlane, Path, int],
) -> None:
    plane, root, _ = setup
    assert run(plane, root).returncode == 0  # v1 serves
    spec = root / "shipyard.yaml"
    spec.write_text(
        spec.read_text().replace("  rollback_window: 5m\n", "  rollback_window: 5m\n  wait: true\n")
    )
    (root / "data.csv").write_text("1\n2\n3\n4\n")  # v2, whose canary step waits for promote
    paused = run(plane, root)
    assert paused.returncode == 12, paused.stdout + paused.stderr
    assert "paused at step 1/2: the step waits for promote" in paused.stderr
    assert "`shipyard promote toy` goes on" in paused.stderr and "Traceback" not in paused.stderr
    assert "answered as expected" in paused.stdout  # verify still smoke-tested v2, pinned
    shown = plane.cli("runs", "list", "--json")
    latest = json.loads(shown.stdout)[0]
    stages = {s["name"]: s for s in latest["stages"]}
    assert latest["status"] == "paused" and "waits for promote" in latest["error"]
    assert stages["deploy"]["status"] == "paused" and "step 1/2" in stages["deploy"]["error"]
    assert stages["verify"]["status"] == "succeeded"
    assert plane.status("toy")["rollout"]["state"] == "paused"

    spec.write_text(spec.read_text().replace("  wait: true\n", ""))
    going = run(plane, root)  # without wait the run says the rollout goes on, and succeeds
    assert going.returncode == 0, going.stdout + going.stderr
    assert "`shipyard status toy --watch` follows it" in going.stdout


MONITOR = """\
monitor:
  reference: none
  alerts:
    - name: HighErrorRate
      when: error_rate > 0.02
      window: 1m
"""


def test_a_rerun_attaches_the_monitor_only_when_the_deployment_holds_other_rules(
    setup: tuple[ControlPlane, Path, int],
) -> None:
    plane, root, _ = setup
    spec = root / "shipyard.yaml"
    spec.write_text(spec.read_text() + MONITOR)
    assert run(plane, root).returncode == 0  # v1 serves, watched by HighErrorRate
    assert len(plane.events("monitor.set")) == 1
    digest = plane.status("toy")["monitor_digest"]
    assert digest is not None

    again = run(plane, root)  # the same rules: nothing to attach
    assert again.returncode == 0 and "already serves v1" in again.stdout
    assert len(plane.events("monitor.set")) == 1
    assert plane.status("toy")["monitor_digest"] == digest

    spec.write_text(spec.read_text().replace("error_rate > 0.02", "error_rate > 0.05"))
    changed = run(plane, root)  # changed rules are attached, though the version is the same
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert len(plane.events("monitor.set")) == 2
    assert plane.api("GET", "alerts")[0]["when"] == "error_rate > 0.05"

    other = {"alerts": [{"name": "Quiet", "when": "requests < 1", "window": "1m"}]}
    plane.api("PUT", "deployments/toy/monitor", {"monitor": other})  # changed by hand
    restored = run(plane, root)  # the project's rules watch it again
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert [r["rule"] for r in plane.api("GET", "alerts")] == ["HighErrorRate"]
    assert len(plane.events("monitor.set")) == 4
