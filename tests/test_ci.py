"""CI pipeline files: GitHub's passes actionlint; GitLab's and Jenkins' commands run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from conftest import Result, git, git_repo
from team_helpers import BOOTSTRAP, TeamServer, call
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


@pytest.fixture
def team(tmp_path: Path) -> Iterator[TeamServer]:
    """The team's Shipyard the pipeline files talk to."""
    server = TeamServer(tmp_path / "server-home")
    server.start()
    yield server
    server.stop()


def run_shell(command: str, cwd: Path, home: Path, team: TeamServer, **env: str) -> None:
    """Run a pipeline file's commands as the CI runner would, with sh, against the team's
    server. The job's virtual environment is Shipyard's own (``python3 -m venv .venv`` is
    replaced by a link to it: a fresh one would download every package)."""
    venv = f"ln -sfn {sys.prefix} .venv"
    command = command.replace("python3 -m venv .venv", venv).replace("python -m venv .venv", venv)
    full_env = {
        **os.environ,
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_SERVER": team.url,
        "SHIPYARD_TOKEN": team.token(f"ci-{len(team.events())}", "register,deploy"),
        **env,
    }
    full_env.pop("SHIPYARD_SERVER_TOKEN", None)
    proc = subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=full_env, capture_output=True, text=True
    )
    assert proc.returncode == 0, (command, proc.stdout[-2000:], proc.stderr[-2000:])
    assert full_env["SHIPYARD_TOKEN"] not in proc.stdout + proc.stderr  # never echoed


def team_runs(team: TeamServer) -> list[list[str]]:
    """The stages of the runs the team's server recorded, newest first."""
    status, runs = call(team.port, "GET", "/api/v1/runs?limit=50", token=BOOTSTRAP)
    assert status == 200
    return [[s["name"] for s in run["stages"]] for run in runs]


def secret_handling(text: str) -> None:
    """What every provider's file must do with the team's server and its token."""
    assert "SHIPYARD_SERVER" in text and "SHIPYARD_TOKEN" in text
    assert "pip install" not in text.replace(".venv/bin/python -m pip install", "")
    assert "-m venv .venv" in text
    assert "set -x" not in text and "echo $SHIPYARD_TOKEN" not in text
    assert 'echo "$SHIPYARD_TOKEN' not in text and "printenv" not in text


def test_github_workflow_passes_actionlint(cli: Cli, repo: Path) -> None:
    result = cli("ci", "init", "--provider", "github")
    assert result.code == 0, result.err
    workflow = repo / ".github" / "workflows" / "shipyard.yml"
    lint = subprocess.run([str(ACTIONLINT), str(workflow)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    data = yaml.safe_load(workflow.read_text())
    job = data["jobs"]["pipeline"]
    assert job["defaults"]["run"]["working-directory"] == "models/toy"
    assert job["env"]["SHIPYARD_TOKEN"] == "${{ secrets.SHIPYARD_TOKEN }}"
    assert job["env"]["SHIPYARD_SERVER"] == "${{ vars.SHIPYARD_SERVER }}"
    secret_handling(workflow.read_text())
    # the check is real: actionlint rejects a broken copy
    broken = workflow.with_name("broken.yml")
    broken.write_text(workflow.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu"))
    assert subprocess.run([str(ACTIONLINT), str(broken)], capture_output=True).returncode != 0


def test_gitlab_ci_parses_and_its_commands_run_against_the_team_server(
    cli: Cli, repo: Path, home: Path, team: TeamServer
) -> None:
    assert cli("ci", "init", "--provider", "gitlab").code == 0
    text = (repo / ".gitlab-ci.yml").read_text()
    secret_handling(text)
    assert "masked and protected" in text
    job = yaml.safe_load(text)["shipyard"]
    assert job["artifacts"]["paths"] == ["models/toy/.shipyard/reports/"]
    commands = " && ".join([*job["before_script"], *job["script"]])
    run_shell(commands, repo, home, team, CI_PIPELINE_SOURCE="merge_request_event")
    run_shell(commands, repo, home, team, CI_PIPELINE_SOURCE="push")
    assert team_runs(team) == [["train", "package", "register"], ["train"]]
    status, version = call(team.port, "GET", "/api/v1/models/toy/versions/1", token=BOOTSTRAP)
    assert status == 200 and version["created_by"].startswith("ci-")
    # without the server's variables the job stops at once, saying which to set
    proc = subprocess.run(
        ["sh", "-c", job["before_script"][1]], cwd=repo / "models" / "toy",
        env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1 and "SHIPYARD_SERVER" in proc.stdout


def test_jenkinsfile_reads_the_token_from_credentials_and_its_commands_run(
    cli: Cli, repo: Path, home: Path, team: TeamServer
) -> None:
    assert cli("ci", "init", "--provider", "jenkins").code == 0
    text = (repo / "Jenkinsfile").read_text()
    assert text.count("{") == text.count("}")
    secret_handling(text)
    credentials = (
        "withCredentials([string(credentialsId: 'shipyard-token', variable: 'SHIPYARD_TOKEN')]) {"
    )
    blocks = text.split(credentials)
    assert len(blocks) == 3  # the gates and the whole pipeline, each inside the credentials
    assert "shipyard run" not in blocks[0] and "shipyard run" in blocks[1] + blocks[2]
    install = re.findall(r"sh '([^']+)'", blocks[0].split("stage('Install')")[1])
    gates, pipeline = (re.findall(r"sh '([^']+)'", block) for block in blocks[1:])
    project = repo / "models" / "toy"
    run_shell(" && ".join(install + gates), project, home, team)
    run_shell(" && ".join(pipeline), project, home, team)
    assert team_runs(team) == [["train", "package", "register"], ["train"]]


def test_ci_init_refuses_to_overwrite_and_names_providers(cli: Cli, repo: Path) -> None:
    assert cli("ci", "init", "--provider", "jenkins").code == 0
    again = cli("ci", "init", "--provider", "jenkins")
    assert again.code == 2 and "already exists" in again.err
    assert cli("ci", "init", "--provider", "jenkins", "--force").code == 0
    unknown = cli("ci", "init", "--provider", "travis")
    assert unknown.code == 2 and "github, gitlab, jenkins" in unknown.err
