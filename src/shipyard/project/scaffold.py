"""``shipyard init``: a new project directory with a spec, model, training script and git."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.git import repo_root, run_git
from shipyard.refs import check_model_name

# template file → file written in the project
_FILES = {
    "shipyard.yaml.tmpl": "shipyard.yaml",
    "model.py.tmpl": "model.py",
    "train.py.tmpl": "train.py",
    "gitignore.tmpl": ".gitignore",
}


@dataclass(frozen=True, slots=True)
class Scaffold:
    """What ``init`` made."""

    directory: Path
    files: tuple[str, ...]
    git_initialised: bool


def init_project(directory: Path, name: str | None = None, *, force: bool = False) -> Scaffold:
    """Write the project files into ``directory`` (created if needed) and make it a git repo.

    Existing files are never overwritten unless ``force``; nothing is written if
    any would be.
    """
    model_name = check_model_name(name or directory.resolve().name)
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(f"{directory} exists and is not a directory")
    clashes = [out for out in _FILES.values() if (directory / out).exists()]
    if clashes and not force:
        raise InvalidInputError(
            f"{directory} already has {', '.join(clashes)}; nothing was written",
            hint="pass --force to overwrite them",
        )
    directory.mkdir(parents=True, exist_ok=True)
    templates = resources.files("shipyard") / "templates" / "project"
    for template, out in _FILES.items():
        text = Template(templates.joinpath(template).read_text()).substitute(name=model_name)
        (directory / out).write_text(text)
    initialised = False
    if repo_root(directory) is None:
        proc = run_git(directory, "init", "--quiet", "--initial-branch=main")
        if proc.returncode != 0:
            raise ShipyardError(f"git init failed in {directory}: {proc.stderr.strip()}")
        initialised = True
    return Scaffold(directory, tuple(_FILES.values()), initialised)
