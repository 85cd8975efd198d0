"""Git hooks: a commit becomes a registered candidate; gates guard the push; old hooks survive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Result, example_project, git, git_repo
from shipyard.store import open_stores

Cli = Callable[..., Result]


def plain_env(home: Path) -> dict[str, str]:
    """The environment of a developer's shell: Shipyard's venv is NOT on PATH."""
    path = os.pathsep.join(
        p
        for p in os.environ["PATH"].split(os.pathsep)
        if Path(p).resolve() != Path(sys.executable).parent.resolve()
    )
    return {**os.environ, "PATH": path, "SHIPYARD_HOME": str(home)}


def wait_for_runs(home: Path, count: int, timeout: float = 180) -> list[str]:
    """Statuses of the newest runs once ``count`` runs have finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (home / "registry.db").exists():
            stores = open_stores(home)
            try:
                runs = stores.runs.list_runs(limit=50)
            finally:
                stores.close()
            finished = [r.status for r in runs if r.status != "running"]
            if len(finished) >= count:
                return finished
        time.sleep(0.5)
    raise AssertionError(f"fewer than {count} runs finished within {timeout} s")


@pytest.fixture
def digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = example_project(tmp_path / "digits", "digits")
    monkeypatch.chdir(project)
    return project


def test_a_commit_produces_a_registered_candidate_and_gates_guard_the_push(
    cli: Cli, digits: Path, home: Path, tmp_path: Path
) -> None:
    assert cli("hooks", "install").code == 0
    spec = (digits / "shipyard.yaml").read_text()
    (digits / "shipyard.yaml").write_text(spec.replace("C: 0.1", "C: 0.2"))
    env = plain_env(home)
    subprocess.run(["git", "commit", "-qam", "C=0.2"], cwd=digits, env=env, check=True)
    assert wait_for_runs(home, 1) == ["succeeded"]
    candidate = json.loads(cli("models", "show", "digits@candidate", "--json").out)
    assert candidate["params"]["C"] == 0.2
    assert candidate["lineage"]["git_commit"] == git(digits, "rev-parse", "HEAD")
    assert list((digits / ".shipyard" / "hooks").glob("post-commit-*.log"))

    # a worse model, committed: the background run stops at the gate, and so does the push
    assert cli("alias", "set", "digits", "production", "1").code == 0
    (digits / "shipyard.yaml").write_text(spec.replace("C: 0.1", "C: 0.0005"))
    subprocess.run(["git", "commit", "-qam", "C=0.0005"], cwd=digits, env=env, check=True)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    push = subprocess.run(
        ["git", "push", "-q", str(remote), "HEAD:main"],
        cwd=digits,
        env=env,
        capture_output=True,
        text=True,
    )
    assert push.returncode != 0
    assert "quality gate(s) failed" in push.stderr
    assert (
        subprocess.run(
            ["git", "ls-remote", str(remote)], capture_output=True, text=True, check=True
        ).stdout
        == ""
    )
    assert sorted(wait_for_runs(home, 3)) == ["failed", "failed", "succeeded"]
    versions = json.loads(cli("models", "versions", "digits", "--json").out)
    assert [v["params"]["C"] for v in versions] == [0.2]


def test_install_keeps_an_existing_hook_is_idempotent_and_uninstall_restores_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = git_repo(tmp_path / "proj")
    assert cli("init", str(project), "--name", "proj").code == 0
    hooks = project / ".git" / "hooks"
    original = "#!/bin/sh\necho earlier hook ran > earlier.txt\nexit 1\n"  # and fails
    (hooks / "post-commit").write_text(original)
    (hooks / "post-commit").chmod(0o755)
    monkeypatch.chdir(project)
    first = cli("hooks", "install")
    assert "post-commit.local" in first.out
    assert "updated" in cli("hooks", "install").out
    assert (hooks / "post-commit.local").read_text() == original
    assert (hooks / "post-commit").read_text().count("installed by shipyard") == 1
    subprocess.run(["git", "add", "."], cwd=project, check=True)
    subprocess.run(
        ["git", "commit", "-qm", "x"],
        cwd=project,
        check=True,
        env={**os.environ, "SHIPYARD_HOME": str(tmp_path / "h")},
    )
    assert (project / "earlier.txt").read_text().strip() == "earlier hook ran"
    assert wait_for_runs(tmp_path / "h", 1) == ["succeeded"]  # and then ours ran the pipeline
    assert "the earlier hook is back" in cli("hooks", "uninstall").out
    assert (hooks / "post-commit").read_text() == original
    assert not (hooks / "pre-push").exists()
