"""``shipyard hooks``: git hooks that run the pipeline on commit and the gates before a push."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import console

app = typer.Typer(
    help="Git hooks: the pipeline on commit, the quality gates before push.", no_args_is_help=True
)

_SAID = {
    "installed": "installed",
    "updated": "updated",
    "kept-existing-as-local": "installed; the hook that was there runs first, from {name}.local",
    "removed": "removed",
    "restored-local": "removed; the earlier hook is back in place",
    "absent": "not installed by shipyard: left alone",
}


@app.command("install")
def install() -> None:
    """post-commit: run the pipeline in the background; pre-push: run it up to the gates."""
    from shipyard.project import load_project
    from shipyard.project.hooks import install_hooks

    project = load_project(Path.cwd())
    for change in install_hooks(project.root):
        console.print(
            f"{change.name}: {_SAID[change.action].format(name=change.name)} ({change.path})"
        )
    console.print(
        "commits now start `shipyard run` in the background (logs in .shipyard/hooks/); "
        "`git push --no-verify` skips the gates once"
    )


@app.command("uninstall")
def uninstall() -> None:
    """Remove Shipyard's hooks, restoring any hook they had kept aside."""
    from shipyard.project import load_project
    from shipyard.project.hooks import uninstall_hooks

    project = load_project(Path.cwd())
    for change in uninstall_hooks(project.root):
        console.print(f"{change.name}: {_SAID[change.action].format(name=change.name)}")
