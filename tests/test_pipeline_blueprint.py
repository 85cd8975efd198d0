"""A run's blueprint: resolved from shipyard.yaml once, read back while the spec is unchanged,
resolved again whenever the spec (or the code that resolves it) changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import SpecError
from shipyard.pipeline.blueprint import FILE, Blueprint, blueprint
from shipyard.project import Project

SPEC = """\
model:
  name: toy
  flavor: custom
  path: model
  entrypoint: model:Toy
train:
  command: python train.py
  params: {scale: 2, rate: 0.5}
deploy:
  strategy: canary
  steps: [50]
  interval: 4s
verify:
  samples:
    - input: [1.5]
      expect: [3.0]
monitor:
  reference: none
  alerts:
    - name: HighErrorRate
      when: error_rate > 0.02
      window: 1m
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "toy" / "shipyard.yaml"
    path.parent.mkdir()
    path.write_text(SPEC)
    return path


def resolved(spec: Path) -> Blueprint:
    return blueprint(Project(spec))


def test_a_stored_blueprint_is_the_one_the_spec_resolves_to(spec: Path) -> None:
    first = resolved(spec)
    assert (spec.parent / FILE).is_file()
    assert resolved(spec) == first  # read back: stages, params and delivery settings alike
    assert first.params == {"scale": 2, "rate": 0.5}
    assert [s.name for s in first.stages] == ["train", "package", "register", "deploy", "verify"]
    assert first.deploy is not None and first.deploy["interval"] == 4.0


def test_changed_monitor_rules_resolve_a_blueprint_with_another_monitor_digest(spec: Path) -> None:
    first = resolved(spec)
    spec.write_text(SPEC.replace("error_rate > 0.02", "error_rate > 0.05"))
    changed = resolved(spec)
    assert changed.monitor is not None
    assert changed.monitor["alerts"][0]["when"] == "error_rate > 0.05"
    assert changed.monitor_digest != first.monitor_digest


def test_a_run_reads_the_spec_once_so_an_edit_meanwhile_cannot_split_it(spec: Path) -> None:
    resolved(spec)
    project = Project(spec)
    assert blueprint(project).params["scale"] == 2  # the stored blueprint, nothing parsed
    spec.write_text(SPEC.replace("scale: 2", "scale: 3"))  # edited while the run goes on
    assert project.spec.train is not None
    assert project.spec.train.params["scale"] == 2  # a stage reads what the blueprint came from
    assert resolved(spec).params["scale"] == 3  # the next run reads the edit


def test_a_spec_made_invalid_is_an_error_though_a_blueprint_is_stored(spec: Path) -> None:
    resolved(spec)
    spec.write_text(SPEC.replace("name: toy", "name: Not A Name"))
    with pytest.raises(SpecError, match=r"model\.name"):
        resolved(spec)


def test_a_blueprint_stored_under_another_key_is_not_used(spec: Path) -> None:
    resolved(spec)
    stored = spec.parent / FILE
    data = json.loads(stored.read_text())
    data["key"] = "sha256:another-spec-or-another-shipyard"
    data["blueprint"]["model"] = "stale"
    stored.write_text(json.dumps(data))
    assert resolved(spec).model == "toy"
    stored.write_text("{not json")
    assert resolved(spec).model == "toy"


def test_another_shipyard_resolves_the_spec_again(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved(spec)
    stored = spec.parent / FILE
    data = json.loads(stored.read_text())
    data["blueprint"]["model"] = "kept"  # the stored blueprint is what a run reads...
    stored.write_text(json.dumps(data))
    assert resolved(spec).model == "kept"
    monkeypatch.setattr(shipyard, "__version__", "99.0")  # ...until Shipyard changes
    assert resolved(spec).model == "toy"


def test_a_stored_blueprint_is_read_without_importing_yaml_or_pydantic(spec: Path) -> None:
    resolved(spec)
    probe = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from shipyard.pipeline.blueprint import blueprint\n"
        "from shipyard.project import load_project\n"
        "blueprint(load_project(Path(sys.argv[1]), read=False))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(spec.parent)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert [m for m in ("pydantic", "yaml") if m in loaded] == []
