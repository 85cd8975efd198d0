"""The documents the control plane's REST API answers with, as typed records: what the
deploy service builds (``deploy/status.py``) and what a client reads back.

JSON-shaped (a ``TypedDict`` is a dict at run time), so a document goes over the wire
as it is and a client types what it reads with a ``cast``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class DesiredView(TypedDict):
    weights: dict[str, int]
    shadow: dict[str, int]
    warm: dict[str, float]  # version → until when it stays loaded (epoch seconds)


class ObservedView(TypedDict):
    running: bool
    ready: bool
    pid: int | None
    versions: list[str]
    routes: dict[str, Any]
    workers: list[dict[str, Any]]
    error: str | None


class RolloutView(TypedDict):
    id: int
    strategy: str
    from_version: int | None
    to_version: int
    state: str
    active: bool
    step: int  # 1-based
    steps: int
    weights: list[int]
    step_started_at: float | None  # epoch seconds
    analysis: dict[str, Any]
    error: str | None
    actor: str
    started_at: str
    finished_at: str | None


class ChangeView(TypedDict):
    kind: str
    at: str
    actor: str
    reason: str | None


class ProcessView(TypedDict):
    pid: int
    log: str


class ClusterView(TypedDict):
    context: str | None
    namespace: str | None
    image: str | None
    gateway: str | None


class DeploymentStatus(TypedDict):
    """``shipyard status NAME --json`` and ``GET /api/v1/deployments/NAME``."""

    name: str
    model: str
    target: str
    url: str
    replicas: int
    alias: str
    stable: int | None
    desired: DesiredView
    observed: ObservedView
    in_sync: bool
    rollout: RolloutView | None
    last_change: ChangeView | None
    process: ProcessView | None
    cluster: ClusterView | None
    monitor_digest: str | None
    problem: NotRequired[str | None]  # the controller's last error, while not converging
