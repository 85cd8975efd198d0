"""`shipyard run`: stages in order, cached when unchanged, failures recorded, nothing half-done.

The project here is a real git repository whose training command is plain
Python writing a small custom-flavor model, so each run takes a fraction of a
second; the digits example runs the same engine with scikit-learn.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import Result, committed_project, git
from shipyard.images.model_dockerfile import SERVE_COMMAND
from shipyard.jsonio import to_data
from shipyard.store import open_stores
from shipyard.store.artifacts import file_digest

Cli = Callable[..., Result]

SPEC = """\
model:
  name: toy
  flavor: custom
  path: model
  entrypoint: model:Toy
train:
  command: python train.py
  deps: [train.py, data.csv]
  params: {scale: 2}
"""

TRAIN = """\
import json, os, pathlib
params = json.loads(os.environ.get("SHIPYARD_PARAMS", "{}"))
rows = pathlib.Path("data.csv").read_text().split()
out = pathlib.Path("model")
out.mkdir(exist_ok=True)
(out / "model.py").write_text(
    "class Toy:\\n"
    "    def load(self, path):\\n        pass\\n"
    f"    def predict(self, xs):\\n        return [x * {params['scale']} for x in xs]\\n"
)
pathlib.Path("metrics.json").write_text(json.dumps({"accuracy": 0.5 + len(rows) / 100}))
print("trained on", len(rows), "rows")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = committed_project(
        tmp_path / "toy",
        {
            "shipyard.yaml": SPEC,
            "train.py": TRAIN,
            "data.csv": "1\n2\n3\n",
            ".gitignore": "model/\nmetrics.json\n.shipyard/\n",
        },
    )
    monkeypatch.chdir(root)
    return root


def runs(home: Path) -> list[dict[str, Any]]:
    """Every run as JSON data, newest first."""
    stores = open_stores(home)
    try:
        runs: list[dict[str, Any]] = to_data(stores.runs.list_runs(limit=100))
        return runs
    finally:
        stores.close()


def statuses(run: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in run["stages"]}


def test_first_run_trains_registers_and_moves_candidate(
    cli: Cli, project: Path, home: Path
) -> None:
    result = cli("run")
    assert result.code == 0, result.err
    assert "registered toy v1 (candidate)" in result.out
    [run] = runs(home)
    assert run["status"] == "succeeded"
    assert statuses(run) == {"train": "succeeded", "package": "succeeded", "register": "succeeded"}
    version = json.loads(cli("models", "show", "toy@candidate", "--json").out)
    assert version["metrics"] == {"accuracy": 0.53}
    assert version["params"] == {"scale": 2}
    assert version["tags"]["shipyard.run"] == run["id"]
    assert version["lineage"]["git_commit"] == git(project, "rev-parse", "HEAD")
    assert version["lineage"]["git_dirty"] is False
    assert set(version["lineage"]["data_digests"]) == {"data.csv", "train.py"}


def test_second_run_with_no_change_is_cached_and_registers_nothing(
    cli: Cli, project: Path, home: Path
) -> None:
    assert cli("run").code == 0
    (project / "model" / "model.py").unlink()  # a cached run restores outputs from the store
    again = cli("run")
    assert again.code == 0, again.err
    latest = runs(home)[0]
    assert statuses(latest) == {"train": "cached", "package": "cached", "register": "cached"}
    assert (project / "model" / "model.py").is_file()
    versions = json.loads(cli("models", "versions", "toy", "--json").out)
    assert [v["version"] for v in versions] == [1]


def test_changing_a_param_or_a_dependency_reruns_training(
    cli: Cli, project: Path, home: Path
) -> None:
    assert cli("run").code == 0
    (project / "README.md").write_text("not a dependency\n")
    assert cli("run").code == 0
    assert statuses(runs(home)[0])["train"] == "cached"
    assert cli("run", "--param", "scale=3").code == 0
    assert statuses(runs(home)[0])["train"] == "succeeded"
    (project / "data.csv").write_text("1\n2\n3\n4\n")
    assert cli("run").code == 0
    assert statuses(runs(home)[0])["train"] == "succeeded"
    # the model depends on scale only: retrained on new data it is v1's bytes again
    versions = json.loads(cli("models", "versions", "toy", "--json").out)
    assert [v["params"]["scale"] for v in versions] == [2, 3]
    assert json.loads(cli("models", "show", "toy@candidate", "--json").out)["version"] == 1


def test_to_stops_after_a_stage_and_force_reruns_one(cli: Cli, project: Path, home: Path) -> None:
    assert cli("run", "--to", "train").code == 0
    assert statuses(runs(home)[0]) == {"train": "succeeded"}
    assert json.loads(cli("models", "list", "--json").out) == []
    assert cli("run", "--force", "train").code == 0
    assert statuses(runs(home)[0]) == {
        "train": "succeeded",
        "package": "succeeded",
        "register": "succeeded",
    }
    assert cli("run", "--force", "nope").code == 2


def test_failing_training_shows_log_tail_marks_run_failed_and_registers_nothing(
    cli: Cli, project: Path, home: Path
) -> None:
    (project / "train.py").write_text(
        "print('loading data')\nraise SystemExit('bad data: row 7')\n"
    )
    result = cli("run")
    assert result.code == 1
    assert "stage 'train' failed: its command exited with code 1" in result.err
    assert "bad data: row 7" in result.err
    [run] = runs(home)
    assert run["status"] == "failed"
    assert statuses(run) == {"train": "failed", "package": "skipped", "register": "skipped"}
    assert json.loads(cli("models", "list", "--json").out) == []
    shown = cli("runs", "show", str(run["id"])[:15])
    assert "bad data: row 7" in shown.out and "train log" in shown.out


def test_training_that_writes_no_model_fails(cli: Cli, project: Path, home: Path) -> None:
    (project / "train.py").write_text("print('forgot to save')\n")
    result = cli("run")
    assert result.code == 1
    assert "wrote no model at model" in result.err
    assert json.loads(cli("models", "list", "--json").out) == []


def test_nan_metric_registers_nothing(cli: Cli, project: Path, home: Path) -> None:
    (project / "train.py").write_text(
        TRAIN.replace('json.dumps({"accuracy": 0.5 + len(rows) / 100})', "'{\"accuracy\": NaN}'")
    )
    result = cli("run")
    assert result.code == 1
    assert "accuracy are not finite" in result.err
    assert json.loads(cli("models", "list", "--json").out) == []


def test_missing_data_file_is_a_clear_error(cli: Cli, project: Path, home: Path) -> None:
    (project / "data.csv").unlink()
    result = cli("run")
    assert result.code == 2
    assert "depends on data.csv, which does not exist" in result.err
    assert runs(home)[0]["status"] == "failed"


def test_stage_cycle_and_unknown_stage_are_spec_errors(cli: Cli, project: Path) -> None:
    cyclic = SPEC + (
        "stages:\n  a:\n    run: echo a\n    after: [b]\n  b:\n    run: echo b\n    after: [a]\n"
    )
    (project / "shipyard.yaml").write_text(cyclic)
    result = cli("run")
    assert result.code == 2
    assert "cycle: a → b → a" in result.err or "cycle: b → a → b" in result.err
    (project / "shipyard.yaml").write_text(
        SPEC + "stages:\n  a:\n    run: echo a\n    after: [zzz]\n"
    )
    result = cli("run")
    assert result.code == 2 and "unknown stage 'zzz'" in result.err


def test_user_stage_output_feeds_training_and_is_cached(
    cli: Cli, project: Path, home: Path
) -> None:
    spec = SPEC.replace("deps: [train.py, data.csv]", "deps: [train.py, data.csv, extra.txt]")
    spec += "stages:\n  prepare:\n    run: python -c \"open('extra.txt','w').write('x')\"\n"
    spec += "    outs: [extra.txt]\n"
    (project / "shipyard.yaml").write_text(spec)
    assert cli("run").code == 0, cli("runs", "list").out
    assert list(statuses(runs(home)[0])) == ["prepare", "train", "package", "register"]
    (project / "extra.txt").unlink()
    assert cli("run").code == 0
    assert set(statuses(runs(home)[0]).values()) == {"cached"}
    assert (project / "extra.txt").read_text() == "x"


def test_retries_with_backoff_then_succeed(cli: Cli, project: Path, home: Path) -> None:
    flaky = (
        "import pathlib, sys\n"
        "n = pathlib.Path('attempts'); n.write_text(str(int(n.read_text() or 0) + 1) "
        "if n.exists() else '1')\n"
        "sys.exit(0 if n.read_text() == '2' else 3)\n"
    )
    (project / "flaky.py").write_text(flaky)
    spec = SPEC + "stages:\n  flaky:\n    run: python flaky.py\n    retries: 2\n"
    (project / "shipyard.yaml").write_text(spec)
    assert cli("run", "--to", "flaky").code == 0
    stage = runs(home)[0]["stages"][0]
    assert (stage["status"], stage["attempts"]) == ("succeeded", 2)


def test_timeout_stops_the_command(cli: Cli, project: Path, home: Path) -> None:
    spec = SPEC + "stages:\n  slow:\n    run: sleep 30\n    timeout: 300ms\n"
    (project / "shipyard.yaml").write_text(spec)
    started = time.monotonic()
    result = cli("run", "--to", "slow")
    assert result.code == 1 and "timed out after 0.3 s" in result.err
    assert time.monotonic() - started < 20


def test_require_clean_refuses_a_dirty_tree(cli: Cli, project: Path) -> None:
    (project / "train.py").write_text(TRAIN + "# edited\n")
    result = cli("run", "--require-clean")
    assert result.code == 1 and "uncommitted changes" in result.err


def test_resume_continues_a_failed_run_with_its_params(cli: Cli, project: Path, home: Path) -> None:
    good = (project / "train.py").read_text()
    (project / "train.py").write_text("raise SystemExit(1)\n")
    assert cli("run", "--param", "scale=5").code == 1
    failed_id = runs(home)[0]["id"]
    (project / "train.py").write_text(good)
    assert cli("run", "--resume").code == 0
    resumed = runs(home)[0]
    assert resumed["trigger"] == f"resume of {failed_id}"
    assert resumed["params"] == {"scale": 5}
    assert cli("run", "--resume").code == 2  # nothing left to resume


def test_json_output_is_one_event_per_line(cli: Cli, project: Path) -> None:
    result = cli("run", "--json")
    assert result.code == 0, result.err
    events = [json.loads(line)["event"] for line in result.out.splitlines()]
    assert events[0] == "run.started" and events[-1] == "run.finished"
    assert "stage.output" in events


def test_sigterm_marks_the_run_interrupted_and_kills_the_command(project: Path, home: Path) -> None:
    (project / "train.py").write_text(
        "import time\nprint('training', flush=True)\ntime.sleep(60)\n"
    )
    shipyard = Path(sys.executable).parent / "shipyard"
    proc = subprocess.Popen(
        [str(shipyard), "run", "--json"],
        cwd=project,
        env={**os.environ, "SHIPYARD_HOME": str(home)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until training is really running
        if "training" in line:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    [run] = runs(home)
    assert run["status"] == "interrupted"
    assert statuses(run) == {"train": "interrupted", "package": "skipped", "register": "skipped"}
    leftover = subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True)
    assert leftover.stdout == b""


def test_runs_list_shows_recent_runs(cli: Cli, project: Path) -> None:
    assert cli("run").code == 0
    listed = cli("runs", "list")
    assert "toy" in listed.out and "succeeded" in listed.out
    assert len(json.loads(cli("runs", "list", "--json").out)) == 1


def test_package_builds_a_bundle_with_manifest_pinned_requirements_and_dockerfile(
    cli: Cli, project: Path, home: Path
) -> None:
    spec = SPEC + "package:\n  code: [train.py]\n  requirements: [pyyaml]\n"
    (project / "shipyard.yaml").write_text(spec)
    assert cli("run").code == 0
    bundle = project / ".shipyard" / "bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert (manifest["flavor"], manifest["entrypoint"]) == ("custom", "model:Toy")
    assert set(manifest["files"]) == {
        "model/model.py",
        "code/train.py",
        "Dockerfile",
        "requirements.txt",
    }
    for rel, digest in manifest["files"].items():
        assert file_digest(bundle / rel).digest == digest
    pins = (bundle / "requirements.txt").read_text().splitlines()
    assert all("==" in pin for pin in pins)
    assert any(pin.lower().startswith("pyyaml==") for pin in pins)
    dockerfile = (bundle / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "HEALTHCHECK" in dockerfile
    assert f"CMD {json.dumps(SERVE_COMMAND)}" in dockerfile  # what the Kubernetes pods run too
    assert git(project, "rev-parse", "HEAD") in dockerfile
    stores = open_stores(home)
    version = stores.metadata.get_version("toy", 1)
    manifest_blob = stores.artifacts.read_bytes(version.tags["shipyard.bundle"])
    stores.close()
    assert json.loads(manifest_blob) == manifest
    assert cli("run").code == 0
    assert statuses(runs(home)[0])["package"] == "cached"


def test_training_by_function_with_the_tracking_api(cli: Cli, project: Path) -> None:
    (project / "trainer.py").write_text(
        "import runpy\nimport shipyard\n\n"
        "def main():\n"
        "    runpy.run_path('train.py')\n"
        "    shipyard.log_metric('loss', 0.25)\n"
        "    shipyard.log_params({'optimizer': 'sgd'})\n"
    )
    spec = SPEC.replace("command: python train.py", "function: trainer:main")
    spec = spec.replace("deps: [train.py, data.csv]", "deps: [train.py, trainer.py, data.csv]")
    (project / "shipyard.yaml").write_text(spec)
    result = cli("run")
    assert result.code == 0, result.err
    version = json.loads(cli("models", "show", "toy", "--json").out)
    assert version["metrics"] == {"accuracy": 0.53, "loss": 0.25}
    assert version["params"] == {"scale": 2, "optimizer": "sgd"}


def test_a_cached_run_leaves_no_stale_file_in_an_output_directory(
    cli: Cli, project: Path, home: Path
) -> None:
    (project / "train.py").write_text(
        TRAIN + "if params['scale'] == 3:\n    (out / 'debug-dump.txt').write_text('x')\n"
    )
    assert cli("run").code == 0
    assert cli("run", "--param", "scale=3").code == 0
    assert (project / "model" / "debug-dump.txt").exists()
    assert cli("run").code == 0  # training cached: the model directory is v1's again, exactly
    assert statuses(runs(home)[0])["train"] == "cached"
    assert not (project / "model" / "debug-dump.txt").exists()
    versions = json.loads(cli("models", "versions", "toy", "--json").out)
    assert [v["params"]["scale"] for v in versions] == [2, 3]


def test_a_config_change_reruns_the_stage_it_shapes(cli: Cli, project: Path, home: Path) -> None:
    assert cli("run").code == 0
    spec = SPEC + "package:\n  base_image: python:3.12-slim\n"
    (project / "shipyard.yaml").write_text(spec)
    assert cli("run").code == 0
    assert statuses(runs(home)[0]) == {
        "train": "cached",
        "package": "succeeded",
        "register": "cached",
    }
    dockerfile = (project / ".shipyard" / "bundle" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim" in dockerfile


def test_stage_output_with_brackets_is_shown_verbatim(cli: Cli, project: Path) -> None:
    (project / "train.py").write_text("print('reading [/data/in.csv] [bold]x')\n" + TRAIN)
    result = cli("run")
    assert result.code == 0, result.err
    assert "reading [/data/in.csv] [bold]x" in result.out


def test_a_bad_metrics_file_fails_the_stage_not_the_spec(cli: Cli, project: Path) -> None:
    (project / "train.py").write_text(
        TRAIN.replace('json.dumps({"accuracy": 0.5 + len(rows) / 100})', "'{\"accuracy\": [1]}'")
    )
    result = cli("run")
    assert result.code == 1
    assert "stage 'train' failed" in result.err and "a metric must be a number" in result.err


def test_a_closed_output_pipe_still_leaves_the_run_recorded(project: Path, home: Path) -> None:
    shipyard = Path(sys.executable).parent / "shipyard"
    proc = subprocess.Popen(
        [str(shipyard), "run", "--json"],
        cwd=project,
        env={**os.environ, "SHIPYARD_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `shipyard run --json | head -1`
    proc.wait(timeout=60)
    assert [run["status"] for run in runs(home)] != ["running"]


def test_the_packaged_bundle_is_served_and_a_tampered_one_is_refused(
    cli: Cli, project: Path, home: Path
) -> None:
    import httpx

    from test_serving import SHIPYARD, start

    assert cli("run", "--to", "package").code == 0
    bundle = project / ".shipyard" / "bundle"
    proc, url = start(home, str(bundle))
    try:
        answer = httpx.post(f"{url}/v1/models/toy:predict", json={"instances": [1, 2, 3]})
        assert answer.json() == {"predictions": [2, 4, 6]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    model_file = bundle / "model" / "model.py"
    model_file.write_text(model_file.read_text() + "\n# changed\n")
    refused = subprocess.run(
        [SHIPYARD, "serve", str(bundle), "--port", url.rsplit(":", 1)[1]],
        env={**os.environ, "SHIPYARD_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "model/model.py does not match the digest in the manifest" in refused.stderr
