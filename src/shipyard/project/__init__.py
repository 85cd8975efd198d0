"""A Shipyard project on disk: its root, its spec, and what the spec implies for registering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInputError, SpecError
from shipyard.flavors import TrustPolicy
from shipyard.registry import RegisterOptions
from shipyard.spec.files import find_spec, read_spec

if TYPE_CHECKING:
    from shipyard.spec import ProjectSpec


class Project:
    """A directory with a ``shipyard.yaml``, read once and validated when first asked for."""

    __slots__ = ("_spec", "_text", "root", "spec_path")

    def __init__(self, spec_path: Path) -> None:
        self.root = spec_path.parent
        self.spec_path = spec_path
        self._text: str | None = None
        self._spec: ProjectSpec | None = None

    @property
    def spec_text(self) -> str:
        """The spec file's text as this project first read it: every part of a run sees the
        same spec, even if the file is edited while the run goes on."""
        if self._text is None:
            self._text = read_spec(self.spec_path)
        return self._text

    @property
    def spec(self) -> ProjectSpec:
        """The validated spec (a ``SpecError`` that points at the line, if it is not valid)."""
        if self._spec is None:
            from shipyard.spec import parse_spec

            self._spec = parse_spec(self.spec_text, str(self.spec_path))
        return self._spec

    @property
    def model_path(self) -> Path:
        """Where training writes the model."""
        return self.root / self.spec.model.path


def find_project(start: Path, *, read: bool = True) -> Project | None:
    """The project holding ``start`` (its nearest ``shipyard.yaml``), if any; with
    ``read``, its spec is read and validated now (a spec error is raised here)."""
    spec_path = find_spec(start.resolve())
    if spec_path is None:
        return None
    project = Project(spec_path)
    if read:
        project.spec  # noqa: B018 - read now: the error belongs to the command's start
    return project


def load_project(start: Path, *, read: bool = True) -> Project:
    """Like ``find_project``, but a missing spec is an error that says what to do."""
    project = find_project(start, read=read)
    if project is None:
        raise SpecError(
            f"no shipyard.yaml in {start.resolve()} or any parent directory",
            hint="run it inside a project, or create one with `shipyard init`",
        )
    return project


def read_metrics_file(path: Path) -> dict[str, float]:
    """``{name: number}`` from a JSON file (NaN is kept: gates must see it and fail)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"metrics file {path}: {err}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"metrics file {path}: expected a JSON object of name: number")
    metrics: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"metrics file {path}: {key} is {value!r}; a metric must be a number"
            )
        metrics[str(key)] = float(value)
    return metrics


def register_options(project: Project) -> tuple[str, Path, RegisterOptions]:
    """Model name, model path and registration defaults from the project's spec."""
    spec = project.spec
    options = RegisterOptions(
        flavor=spec.model.flavor,
        entrypoint=spec.model.entrypoint,
        tags=dict(spec.model.tags),
        description=spec.model.description,
        trust=TrustPolicy(types=tuple(spec.model.trust)),
        project_dir=project.root,
    )
    if spec.train is not None:
        options.params = dict(spec.train.params)
        metrics_file = project.root / spec.train.metrics
        if metrics_file.is_file():
            options.metrics = read_metrics_file(metrics_file)
    return spec.model.name, project.model_path, options
