"""Deployments and rollouts: records and the store interface that keeps them.

A deployment's *desired* state (versions loaded, traffic weights, shadows, which
versions stay warm and until when) lives here; its *observed* state is asked of
the running server. A rollout is the move from one desired state to the next,
one row per move, and at most one unfinished rollout per deployment (a unique
index, so two deploys can never interleave). ``process`` rows say which server
process serves a deployment, so a restarted control plane adopts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Desired:
    """What a deployment's server should hold: routed versions, shadows, warm versions."""

    weights: dict[str, int] = field(default_factory=dict)  # version → live traffic share
    shadow: dict[str, int] = field(default_factory=dict)  # version → percent copied
    warm: dict[str, float] = field(default_factory=dict)  # version → kept loaded until (epoch s)

    def versions(self) -> set[str]:
        """Every version the server must have loaded."""
        return {*self.weights, *self.shadow, *self.warm}

    def routes(self) -> dict[str, dict[str, int]]:
        """The route table the server's admin interface takes (warm versions at weight 0)."""
        weights = dict(self.weights)
        for version in self.warm:
            if version not in self.shadow:
                weights.setdefault(version, 0)
        return {"weights": weights, "shadow": dict(self.shadow)}


@dataclass(frozen=True, slots=True)
class AliasChange:
    """An alias to move in the same transaction as the deployment change it follows."""

    alias: str
    version: int
    action: str  # "set", or "rollback" when it goes back to the version it held before
    reason: str


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """A named service on a target, with its settings and desired state."""

    name: str
    model: str
    target: str
    host: str
    port: int
    replicas: int
    alias: str  # moved to the stable version when a rollout finishes
    rollback_window: float  # seconds the previous version stays warm
    options: dict[str, Any]  # serving options (batching, limits, trust)
    desired: Desired
    stable: int | None  # the version all traffic returns to on abort
    history: tuple[int, ...]  # stable versions, oldest first (rollback walks back)
    generation: int
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    """One move of a deployment to a new version, step by step."""

    id: int
    deployment: str
    strategy: str
    from_version: int | None
    to_version: int
    plan: dict[str, Any]  # steps, interval, analysis thresholds, resume policy
    state: str
    step: int
    step_started_at: float | None  # epoch seconds; the interval counts from here
    baseline: dict[str, Any]  # metric totals when the step started
    analysis: dict[str, Any]  # the newest analysis
    error: str | None
    actor: str
    reason: str
    started_at: str
    finished_at: str | None


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """The server process serving a deployment, as started (or adopted) by the control plane."""

    deployment: str
    pid: int
    boot_id: str  # the process's start time in clock ticks: a reused pid does not match
    port: int
    admin_socket: str
    token_file: str
    log: str
    started_at: str


class DeployStore(Protocol):
    """Deployments, rollouts and server processes; every change comes with its event."""

    def create_deployment(self, record: DeploymentRecord, actor: str, reason: str) -> None:
        """Add a new deployment (``ConflictError`` if the name is taken)."""
        ...

    def get_deployment(self, name: str) -> DeploymentRecord:
        """One deployment; ``NotFoundError`` if unknown."""
        ...

    def list_deployments(self) -> list[DeploymentRecord]:
        """Every deployment, by name."""
        ...

    def delete_deployment(self, name: str, actor: str, reason: str) -> None:
        """Forget a deployment, its process row and finished rollouts stay in the event log."""
        ...

    def record(
        self,
        kind: str,
        actor: str,
        reason: str,
        *,
        deployment: DeploymentRecord | None = None,
        rollout: RolloutRecord | None = None,
        data: dict[str, Any] | None = None,
        alias: AliasChange | None = None,
    ) -> tuple[DeploymentRecord | None, RolloutRecord | None]:
        """Save a deployment and/or a rollout and append one event, in one transaction
        (with ``alias``, the deployment's alias moves in it too).

        A deployment is saved only if its ``generation`` is still the stored one
        (``ConflictError`` otherwise) and comes back with the next generation. A
        rollout with ``id == 0`` is new: it gets an id, and ``ConflictError`` if the
        deployment already has an unfinished rollout.
        """
        ...

    def active_rollout(self, deployment: str) -> RolloutRecord | None:
        """The deployment's unfinished rollout, if any."""
        ...

    def list_rollouts(self, deployment: str, limit: int = 20) -> list[RolloutRecord]:
        """The deployment's newest rollouts first."""
        ...

    def get_process(self, deployment: str) -> ProcessRecord | None:
        """The process serving a deployment, as last recorded."""
        ...

    def set_process(
        self, deployment: str, process: ProcessRecord | None, kind: str, actor: str, reason: str
    ) -> None:
        """Record (or clear) the deployment's server process, with an event."""
        ...
