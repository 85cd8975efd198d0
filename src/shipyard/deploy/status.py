"""A deployment's status as ``shipyard status`` and ``GET /api/v1/deployments/NAME`` show it:
desired against observed, the rollout under way (or the last one), the server process."""

from __future__ import annotations

from typing import Any

from shipyard.client.documents import (
    ChangeView,
    ClusterView,
    DeploymentStatus,
    RolloutView,
)
from shipyard.deploy.engine import Engine
from shipyard.deploy.rollout import ACTIVE
from shipyard.spec.monitor_config import config_digest
from shipyard.store import RolloutRecord, Stores


def deployment_status(stores: Stores, engine: Engine, name: str) -> DeploymentStatus:
    """Everything an operator asks first about one deployment."""
    d = stores.deploy.get_deployment(name)
    observed = engine.observe(d)
    rollouts = stores.deploy.list_rollouts(name, limit=1)
    last = rollouts[0] if rollouts else None
    proc = stores.deploy.get_process(name)
    monitor = stores.alerts.get_monitor(name)
    return {
        "name": d.name,
        "model": d.model,
        "target": d.target,
        "url": f"http://{d.host}:{d.port}",
        "replicas": d.replicas,
        "alias": d.alias,
        "stable": d.stable,
        "desired": {
            "weights": d.desired.weights,
            "shadow": d.desired.shadow,
            "warm": dict(d.desired.warm.items()),
        },
        "observed": {
            "running": observed.running,
            "ready": observed.ready,
            "pid": observed.pid,
            "versions": observed.versions,
            "routes": observed.routes,
            "workers": observed.workers,
            "error": observed.error,
        },
        "in_sync": observed.holds(d.desired),
        "rollout": None if last is None else _rollout_view(last),
        "last_change": _last_change(stores, d.model, d.name),
        "process": None if proc is None else {"pid": proc.pid, "log": proc.log},
        "cluster": _cluster_view(d.options) if d.target == "kubernetes" else None,
        "monitor_digest": None if monitor is None else config_digest(monitor),
    }


def _cluster_view(options: dict[str, Any]) -> ClusterView:
    """Where a kubernetes deployment lives, and how its traffic is split."""
    settings = options.get("kubernetes") or {}
    access = settings.get("access") or {}
    return {
        "context": access.get("context"),
        "namespace": access.get("namespace"),
        "image": settings.get("image"),
        "gateway": settings.get("gateway"),
    }


_CHANGES = ("rollout.", "deployment.rolled_back", "deployment.traffic")


def _last_change(stores: Stores, model: str, name: str) -> ChangeView | None:
    """The newest event that moved this deployment's traffic: who, what, why, when."""
    for event in reversed(stores.metadata.list_events(model=model, limit=50)):
        if event.data.get("deployment") == name and event.kind.startswith(_CHANGES):
            return {
                "kind": event.kind,
                "at": event.at,
                "actor": event.actor,
                "reason": event.data.get("reason"),
            }
    return None


def _rollout_view(r: RolloutRecord) -> RolloutView:
    steps = r.plan["steps"]
    return {
        "id": r.id,
        "strategy": r.strategy,
        "from_version": r.from_version,
        "to_version": r.to_version,
        "state": r.state,
        "active": r.state in ACTIVE,
        "step": r.step + 1,
        "steps": len(steps),
        "weights": [s["weight"] for s in steps],
        "step_started_at": r.step_started_at,
        "analysis": r.analysis,
        "error": r.error,
        "actor": r.actor,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
    }
