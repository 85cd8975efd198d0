"""What Shipyard asks of git, through the real ``git`` command: state, root, hooks, init."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError


def run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``git ARGS`` in ``cwd``; the caller reads the return code."""
    if shutil.which("git") is None:
        raise ShipyardError("git is not installed", hint="install git (apt-get install git)")
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def git_output(cwd: Path, *args: str) -> str:
    """``git ARGS`` output; outside a work tree, an error that says how to make one."""
    proc = run_git(cwd, *args)
    if proc.returncode != 0:
        raise ShipyardError(
            f"{cwd} is not inside a git work tree: {proc.stderr.strip()}",
            hint="run `git init` first (or `shipyard init`, which does)",
        )
    return proc.stdout.strip()


def repo_root(path: Path) -> Path | None:
    """The top of the work tree holding ``path``, or ``None`` outside one."""
    proc = run_git(path, "rev-parse", "--show-toplevel")
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


@dataclass(frozen=True, slots=True)
class GitState:
    """The state of the git work tree a version was made from."""

    commit: str | None
    branch: str | None
    dirty: bool


def git_state(directory: Path) -> GitState | None:
    """Commit, branch and dirty flag of the work tree holding ``directory``, if any.

    One ``git status --porcelain=v2 --branch`` call gives all three. Returns
    ``None`` outside a work tree or where git is not installed.
    """
    if shutil.which("git") is None:
        return None
    proc = run_git(directory, "status", "--porcelain=v2", "--branch", "--untracked-files=normal")
    if proc.returncode != 0:
        return None
    commit = branch = None
    dirty = False
    for line in proc.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ")
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ")
            branch = None if head == "(detached)" else head
        elif not line.startswith("#"):
            dirty = True
    return GitState(commit, branch, dirty)
