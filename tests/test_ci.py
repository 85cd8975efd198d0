"""CI pipeline files: GitHub's passes actionlint; GitLab's and Jenkins' commands run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import Result, git, git_repo
from test_pipeline import SPEC, TRAIN

Cli = Callable[..., Result]
ACTIONLINT = Path(sys.executable).parent / "actionlint"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose Shipyard project lives in a subdirectory (a monorepo)."""
    root = git_repo(tmp_path / "repo")
    project = root / "models" / "toy"
    project.mkdir(parents=True)
    (project / "shipyard.yaml").write_text(SPEC)
    (project / "train.py").write_text(TRAIN)
    (project / "data.csv").write_text("1\n2\n3\n")
    (project / "requirements.txt").write_text("pyyaml\n")  # installed already: no download
    (root / ".gitignore").write_text("model/\nmetrics.json\n.shipyard/\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "toy")
    monkeypatch.chdir(project)
    return root


def run_shell(command: str, cwd: Path, home: Path, **env: str) -> None:
    """Run a pipeline file's command as the CI runner would: sh, Shipyard's venv on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    full_env = {**os.environ, "PATH": path, "SHIPYARD_HOME": str(home), **env}
    proc = subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=full_env, capture_output=True, text=True
    )
    assert proc.returncode == 0, (command, proc.stdout[-2000:], proc.stderr[-2000:])


def stage_names(home: Path, cli: Cli) -> list[list[str]]:
    runs = json.loads(cli("runs", "list", "--json").out)
    return [[s["name"] for s in run["stages"]] for run in runs]


def test_github_workflow_passes_actionlint(cli: Cli, repo: Path) -> None:
    result = cli("ci", "init", "--provider", "github")
    assert result.code == 0, result.err
    workflow = repo / ".github" / "workflows" / "shipyard.yml"
    lint = subprocess.run([str(ACTIONLINT), str(workflow)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    data = yaml.safe_load(workflow.read_text())
    assert data["jobs"]["pipeline"]["defaults"]["run"]["working-directory"] == "models/toy"
    # the check is real: actionlint rejects a broken copy
    broken = workflow.with_name("broken.yml")
    broken.write_text(workflow.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu"))
    assert subprocess.run([str(ACTIONLINT), str(broken)], capture_output=True).returncode != 0


def test_gitlab_ci_parses_and_its_commands_run(cli: Cli, repo: Path, home: Path) -> None:
    assert cli("ci", "init", "--provider", "gitlab").code == 0
    job = yaml.safe_load((repo / ".gitlab-ci.yml").read_text())["shipyard"]
    assert job["artifacts"]["paths"] == ["models/toy/.shipyard/reports/"]
    commands = " && ".join([*job["before_script"], *job["script"]])
    run_shell(commands, repo, home, CI_PIPELINE_SOURCE="merge_request_event")
    run_shell(commands, repo, home, CI_PIPELINE_SOURCE="push")
    assert stage_names(home, cli) == [["train", "package", "register"], ["train"]]
    assert json.loads(cli("models", "show", "toy@candidate", "--json").out)["version"] == 1


def test_jenkinsfile_parses_and_its_commands_run(cli: Cli, repo: Path, home: Path) -> None:
    assert cli("ci", "init", "--provider", "jenkins").code == 0
    text = (repo / "Jenkinsfile").read_text()
    assert text.count("{") == text.count("}")
    steps = re.findall(r"dir\('([^']+)'\) \{\s*sh '([^']+)'", text)
    assert [directory for directory, _ in steps] == ["models/toy"] * 3
    for _, command in steps:  # install, gates (change requests), whole pipeline (branches)
        run_shell(command.replace("python3 ", f"{sys.executable} "), repo / "models" / "toy", home)
    assert stage_names(home, cli) == [["train", "package", "register"], ["train"]]


def test_ci_init_refuses_to_overwrite_and_names_providers(cli: Cli, repo: Path) -> None:
    assert cli("ci", "init", "--provider", "jenkins").code == 0
    again = cli("ci", "init", "--provider", "jenkins")
    assert again.code == 2 and "already exists" in again.err
    assert cli("ci", "init", "--provider", "jenkins", "--force").code == 0
    unknown = cli("ci", "init", "--provider", "travis")
    assert unknown.code == 2 and "github, gitlab, jenkins" in unknown.err
