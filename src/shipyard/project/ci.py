"""``shipyard ci init``: pipeline definitions for the CI a team already runs.

Each template calls ``shipyard run`` (up to the gates for pull/merge requests, the
whole pipeline on the default branch) and keeps the validation report as a build
artifact. They are starting points: written once, then the team's to edit.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from shipyard.errors import InvalidInputError
from shipyard.git import repo_root
from shipyard.project import Project

PROVIDERS = {
    "github": ("github.yml", ".github/workflows/shipyard.yml"),
    "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
    "jenkins": ("Jenkinsfile", "Jenkinsfile"),
}


@dataclass(frozen=True, slots=True)
class CiFile:
    """The file ``ci init`` wrote, and what the user still has to do."""

    path: Path
    warnings: tuple[str, ...]


def render(provider: str, project_dir: str, gate_stage: str = "validate") -> str:
    """The template for ``provider``, filled in: the project's directory, the Python version,
    and the stage that pull/merge requests run up to (``validate``, or ``train`` without one)."""
    if provider not in PROVIDERS:
        raise InvalidInputError(
            f"unknown CI provider {provider!r}", hint=f"choose one of: {', '.join(PROVIDERS)}"
        )
    template = resources.files("shipyard") / "templates" / "ci" / PROVIDERS[provider][0]
    python = ".".join(platform.python_version_tuple()[:2])
    text = template.read_text().replace("@@PROJECT_DIR@@", project_dir)
    return text.replace("@@PYTHON@@", python).replace("@@GATE_STAGE@@", gate_stage)


def init_ci(project: Project, provider: str, *, force: bool = False) -> CiFile:
    """Write the provider's pipeline file at the root of the project's repository."""
    top = (repo_root(project.root) or project.root).resolve()
    rel = project.root.resolve().relative_to(top).as_posix()
    gate_stage = "validate" if project.spec.validate_stage is not None else "train"
    text = render(provider, rel, gate_stage)
    path = top / PROVIDERS[provider][1]
    if path.exists() and not force:
        raise InvalidInputError(
            f"{path} already exists; nothing was written", hint="pass --force to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    warnings = []
    if not (project.root / "requirements.txt").is_file():
        warnings.append(
            f"{project.root / 'requirements.txt'} does not exist: the pipeline installs from it; "
            "list Shipyard (with the extras you use) and your training dependencies there"
        )
    return CiFile(path, tuple(warnings))
