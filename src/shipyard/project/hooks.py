"""Git hooks that run the pipeline: post-commit in the background, pre-push in front of the push.

Installing is idempotent and never loses a hook that was there before: an
existing hook of the same name is moved to ``<name>.local`` and called first by
ours, with the same arguments and standard input.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from shipyard.git import git_output

MARKER = "# installed by shipyard hooks install"
HOOKS = ("post-commit", "pre-push")

_TEMPLATE = """#!/bin/sh
{marker} — `shipyard hooks uninstall` removes it.
# A hook that was here before runs first, from {name}.local.
set -e
stdin_copy=$(mktemp)
trap 'rm -f "$stdin_copy"' EXIT
cat > "$stdin_copy" {stdin_source}
if [ -x "$0.local" ]; then "$0.local" "$@" < "$stdin_copy"{local_failure}; fi
cd {project}
{body}
"""

_BODIES = {
    # Train, validate and register in the background: the commit returns at once.
    "post-commit": (
        "mkdir -p .shipyard/hooks\n"
        "log=.shipyard/hooks/post-commit-$(date +%Y%m%d-%H%M%S).log\n"
        'nohup {shipyard} run --trigger post-commit --json > "$log" 2>&1 &\n'
        'echo "shipyard: pipeline started in the background (log: {project_rel}$log)"'
    ),
    # The quality gates stand between a commit and the remote: a failing gate blocks the push.
    "pre-push": (
        "echo 'shipyard: running the pipeline up to the quality gates before pushing'\n"
        "{shipyard} run --to validate --trigger pre-push"
    ),
}


@dataclass(frozen=True, slots=True)
class HookChange:
    """What ``install``/``uninstall`` did to one hook."""

    name: str
    path: Path
    action: str  # installed, updated, kept-existing-as-local, removed, restored-local, absent


def hooks_dir(project: Path) -> Path:
    """The repository's hooks directory (honours ``core.hooksPath``)."""
    path = Path(git_output(project, "rev-parse", "--git-path", "hooks"))
    return path if path.is_absolute() else (project / path).resolve()


def shipyard_command() -> str:
    """How a hook calls this Shipyard, whatever the PATH of the shell running git."""
    found = shutil.which("shipyard")
    beside = Path(sys.executable).parent / "shipyard"
    return str(beside if beside.is_file() else Path(found) if found else beside)


def _script(name: str, project: Path, top: Path) -> str:
    rel = project.relative_to(top).as_posix()
    body = _BODIES[name].format(
        shipyard=shlex.quote(shipyard_command()), project_rel="" if rel == "." else f"{rel}/"
    )
    stdin_source = "" if name == "pre-push" else "< /dev/null"
    # git ignores post-commit's exit status, so an earlier hook failing must not stop ours;
    # pre-push's status blocks the push, so there a failing earlier hook does.
    local_failure = " || true" if name == "post-commit" else ""
    return _TEMPLATE.format(
        marker=MARKER,
        name=name,
        project=shlex.quote(str(project)),
        body=body,
        stdin_source=stdin_source,
        local_failure=local_failure,
    )


def install_hooks(project: Path) -> list[HookChange]:
    """Install (or refresh) the hooks for the project at ``project``."""
    top = Path(git_output(project, "rev-parse", "--show-toplevel"))
    directory = hooks_dir(project)
    directory.mkdir(parents=True, exist_ok=True)
    changes = []
    for name in HOOKS:
        path = directory / name
        action = "installed"
        if path.exists():
            if MARKER in path.read_text(errors="replace"):
                action = "updated"
            else:
                path.replace(directory / f"{name}.local")
                action = "kept-existing-as-local"
        path.write_text(_script(name, project.resolve(), top.resolve()))
        path.chmod(0o755)
        changes.append(HookChange(name, path, action))
    return changes


def uninstall_hooks(project: Path) -> list[HookChange]:
    """Remove Shipyard's hooks, putting back any hook they had kept aside."""
    directory = hooks_dir(project)
    changes = []
    for name in HOOKS:
        path, local = directory / name, directory / f"{name}.local"
        if not path.exists() or MARKER not in path.read_text(errors="replace"):
            changes.append(HookChange(name, path, "absent"))
            continue
        path.unlink()
        if local.exists():
            local.replace(path)
            changes.append(HookChange(name, path, "restored-local"))
        else:
            changes.append(HookChange(name, path, "removed"))
    return changes
