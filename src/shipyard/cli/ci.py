"""``shipyard ci``: pipeline files for Jenkins, GitHub Actions and GitLab CI."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import console, err_console

app = typer.Typer(help="CI pipeline definitions that call shipyard.", no_args_is_help=True)


@app.command("init")
def init(
    provider: str = typer.Option(..., "--provider", help="jenkins, github or gitlab."),
    force: bool = typer.Option(False, help="Replace an existing pipeline file."),
) -> None:
    """Write Jenkinsfile, .github/workflows/shipyard.yml or .gitlab-ci.yml for this project."""
    from shipyard.project import load_project
    from shipyard.project.ci import init_ci

    written = init_ci(load_project(Path.cwd()), provider, force=force)
    console.print(f"wrote {written.path}")
    for warning in written.warnings:
        err_console.print(f"warning: {warning}", style="yellow")
