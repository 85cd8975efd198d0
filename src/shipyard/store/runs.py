"""Pipeline runs: records and the store interface that keeps them.

A run is one execution of a project's pipeline; each of its stages has a row
that moves pending → running → succeeded / cached / paused / failed /
interrupted / skipped (``paused``: a deploy stage whose rollout waits for a
person; the run then ends paused too). The stage cache maps a stage's
fingerprint to the outputs it produced, so an unchanged stage is reused instead
of re-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

RUN_STATUSES = ("running", "succeeded", "paused", "failed", "interrupted")
STAGE_STATUSES = (
    "pending",
    "running",
    "succeeded",
    "cached",
    "paused",
    "failed",
    "interrupted",
    "skipped",
)


@dataclass(frozen=True, slots=True)
class StageRun:
    """One stage within a run."""

    name: str
    status: str = "pending"
    fingerprint: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    outputs: dict[str, str] = field(default_factory=dict)  # path → sha256 digest
    metrics: dict[str, float] = field(default_factory=dict)
    log_digest: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """One pipeline execution, with its stages in order."""

    id: str
    project: str
    model: str
    status: str
    started_at: str
    finished_at: str | None
    actor: str
    trigger: str
    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    params: dict[str, Any]
    error: str | None
    stages: tuple[StageRun, ...]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """What a stage with this fingerprint produced before."""

    fingerprint: str
    stage: str
    outputs: dict[str, str]
    metrics: dict[str, float]
    run_id: str
    params: dict[str, Any] = field(default_factory=dict)  # params the stage logged itself


class RunStore(Protocol):
    """Runs, stage rows and the stage cache."""

    def create_run(self, run: Run) -> None:
        """Record a new run and its pending stages (and a ``run.started`` event)."""
        ...

    def update_stage(self, run_id: str, stage: StageRun) -> None:
        """Replace one stage row of a run."""
        ...

    def finish_run(self, run_id: str, status: str, error: str | None) -> Run:
        """Close a run (and append a ``run.finished`` event)."""
        ...

    def get_run(self, run_id: str) -> Run:
        """A run by id or unique id prefix; ``NotFoundError`` otherwise."""
        ...

    def list_runs(self, *, project: str | None = None, limit: int = 20) -> list[Run]:
        """The newest runs first."""
        ...

    def cache_get(self, fingerprint: str) -> CacheEntry | None:
        """The cached outputs for a fingerprint, if any."""
        ...

    def cache_put(self, entry: CacheEntry) -> None:
        """Remember what a stage produced (the first entry for a fingerprint wins)."""
        ...
