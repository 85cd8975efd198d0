"""Capturing where a model version came from: git state and the Python environment."""

from __future__ import annotations

import getpass
import os
import platform
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ACTOR_ENV = "SHIPYARD_ACTOR"


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
    proc = subprocess.run(
        ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=normal"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
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


@cache
def pinned_requirements() -> str:
    """The running interpreter's installed distributions as sorted ``name==version`` lines."""
    from importlib import metadata  # 15 ms of imports, paid only when registering

    pins = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    return "".join(f"{pin}\n" for pin in sorted(pins, key=str.lower))


def python_version() -> str:
    """``major.minor.micro`` of the running interpreter."""
    return platform.python_version()


def platform_tag() -> str:
    """OS and machine, e.g. ``linux-x86_64``."""
    return f"{sys.platform}-{platform.machine()}"


def current_actor() -> str:
    """Who is acting: ``$SHIPYARD_ACTOR`` if set (CI sets it), else ``user@host``."""
    actor = os.environ.get(ACTOR_ENV)
    if actor:
        return actor
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
