"""How far a Deployment's rollout has got, read from the objects the API returns.

The same conditions ``kubectl rollout status`` waits for: the controller has seen
the newest spec (``observedGeneration``), every replica runs it (``updatedReplicas``),
no old replica is left and every replica is available. When a rollout cannot
finish, the pods say why (an image that cannot be pulled, a container that crashes,
a pod that cannot be scheduled), and that reason is what Shipyard reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Waiting reasons that will not clear by waiting longer.
STUCK = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


@dataclass(frozen=True, slots=True)
class Progress:
    """One Deployment's rollout, as far as it has got."""

    done: bool
    ready: int
    wanted: int
    message: str


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def deployment_progress(deployment: dict[str, Any] | None) -> Progress:
    """``kubectl rollout status``'s verdict on a Deployment object (None: not there)."""
    if deployment is None:
        return Progress(False, 0, 0, "a Deployment is not there (deleted meanwhile?)")
    name = _get(deployment, "metadata", "name")
    if _get(deployment, "metadata", "deletionTimestamp"):
        return Progress(False, 0, 0, f"{name}: being deleted")
    wanted = int(_get(deployment, "spec", "replicas") or 0)
    status = deployment.get("status") or {}
    generation = int(_get(deployment, "metadata", "generation") or 0)
    ready = int(status.get("availableReplicas") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return Progress(False, ready, wanted, f"{name}: waiting for the controller to see it")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == (
            "ProgressDeadlineExceeded"
        ):
            return Progress(False, ready, wanted, f"{name}: {condition.get('message')}")
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    if updated < wanted:
        return Progress(False, ready, wanted, f"{name}: {updated} of {wanted} pods updated")
    if total > updated:
        return Progress(False, ready, wanted, f"{name}: {total - updated} old pods terminating")
    if ready < updated:
        return Progress(False, ready, wanted, f"{name}: {ready} of {updated} pods available")
    return Progress(True, ready, wanted, f"{name}: {ready} of {wanted} pods ready")


def _stuck_waits(pods: list[dict[str, Any]]) -> Iterator[str]:
    """Each container that waits for a reason waiting will not clear, in the kubelet's words."""
    for pod in pods:
        name = _get(pod, "metadata", "name")
        for container in _get(pod, "status", "containerStatuses") or []:
            waiting = _get(container, "state", "waiting") or {}
            if waiting.get("reason") in STUCK:
                yield f"pod {name}: {waiting['reason']}: {waiting.get('message', '')}"


def pod_problem(pods: list[dict[str, Any]]) -> str | None:
    """Why pods are not ready, in the kubelet's and scheduler's words, or None."""
    found = list(_stuck_waits(pods))
    for pod in pods:
        for condition in _get(pod, "status", "conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                name = _get(pod, "metadata", "name")
                found.append(f"pod {name}: not scheduled: {condition.get('message', '')}")
    return "; ".join(sorted(set(found))) or None


def stuck(pods: list[dict[str, Any]]) -> bool:
    """A pod waits for a reason that waiting will not clear."""
    return any(True for _ in _stuck_waits(pods))
