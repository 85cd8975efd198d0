"""Kubernetes objects for one deployment of a model version, as plain dicts.

    Deployment (per track: stable, and canary during a canary), Service,
    PodDisruptionBudget, HorizontalPodAutoscaler, and — for clusters with the
    Prometheus Operator — ServiceMonitor and PrometheusRule.

Pods serve the version's image (``shipyard serve`` on port 8000) with startup,
readiness and liveness probes on the Open Inference Protocol's health endpoints;
updates never take a ready pod away before its replacement is ready
(``maxUnavailable: 0``). A canary is a second Deployment behind the same Service:
traffic splits by replica count, so its weight is rounded to whole pods. Labels and
annotations carry the model, the version and its content digest, so ``kubectl get``
answers "what is serving".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.expressions.alert_rules import AlertRule
from shipyard.expressions.prometheus_rules import alerting_rules
from shipyard.images.model_dockerfile import SERVE_COMMAND
from shipyard.store import ModelVersion

PORT = 8000
SERVICE_PORT = 80  # where the Services answer inside the cluster
PREFIX = "shipyard.dev"
TRACK = f"{PREFIX}/track"  # stable, canary or preview
VERSION = f"{PREFIX}/version"
_QUANTITY = re.compile(r"^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def check_quantity(value: str, what: str) -> str:
    """A Kubernetes resource quantity (``500m``, ``2``, ``512Mi``), or a clear error."""
    if not _QUANTITY.match(value):
        raise InvalidInputError(
            f"{what} {value!r} is not a Kubernetes quantity",
            hint="CPU like 500m or 2; memory like 512Mi or 2Gi",
        )
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """How a deployment runs on a cluster."""

    name: str
    image: str  # may name {model} and {version}: each track's pods run their version's image
    namespace: str | None = None
    replicas: int = 2
    max_replicas: int = 6
    cpu: str = "500m"
    memory: str = "1Gi"
    cpu_limit: str | None = None
    memory_limit: str | None = None  # None: the request
    target_cpu: int = 70  # percent of the request the autoscaler aims for
    extra_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for value, what in (
            (self.cpu, "cpu"),
            (self.memory, "memory"),
            (self.cpu_limit, "cpu limit"),
            (self.memory_limit, "memory limit"),
        ):
            if value is not None:
                check_quantity(value, what)
        try:
            self.image.format(model="m", version=1)
        except (KeyError, IndexError, ValueError):
            raise InvalidInputError(
                f"image {self.image!r}: the only placeholders are {{model}} and {{version}}"
            ) from None
        if not 1 <= self.replicas <= self.max_replicas:
            raise InvalidInputError(
                f"replicas {self.replicas} and max replicas {self.max_replicas}: "
                "expected 1 <= replicas <= max replicas"
            )


def _labels(s: Settings, version: ModelVersion | None, track: str | None) -> dict[str, str]:
    labels = {
        **_selector(s),
        "app.kubernetes.io/managed-by": "shipyard",
        **s.extra_labels,
    }
    if version is not None:
        labels["app.kubernetes.io/version"] = str(version.version)
        labels[f"{PREFIX}/model"] = version.model
        labels[VERSION] = str(version.version)
    if track is not None:
        labels[TRACK] = track
    return labels


def _selector(s: Settings) -> dict[str, str]:
    """The label every pod of the deployment carries, whatever its track."""
    return {"app.kubernetes.io/name": s.name}


def _shared(s: Settings) -> dict[str, Any]:
    """Metadata of an object the tracks share (Service, budget, autoscaler, monitors)."""
    return _meta(s, s.name, _labels(s, None, None))


def _meta(s: Settings, name: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels, **extra}
    if s.namespace:
        meta["namespace"] = s.namespace
    return meta


def _annotations(version: ModelVersion) -> dict[str, str]:
    out = {f"{PREFIX}/content-digest": version.content_digest}
    if version.lineage.git_commit:
        out[f"{PREFIX}/git-commit"] = version.lineage.git_commit
    return out


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def deployment(s: Settings, version: ModelVersion, track: str, replicas: int) -> dict[str, Any]:
    """The Deployment of one track (stable or canary) of the version."""
    labels = _labels(s, version, track)
    selector = {**_selector(s), TRACK: track}
    resources: dict[str, Any] = {
        "requests": {"cpu": s.cpu, "memory": s.memory},
        "limits": {"memory": s.memory_limit or s.memory},
    }
    if s.cpu_limit:
        resources["limits"]["cpu"] = s.cpu_limit
    container = {
        "name": "model",
        "image": s.image.format(model=version.model, version=version.version),
        "command": [*SERVE_COMMAND, "--deployment", s.name],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "startupProbe": _probe("/v2/health/ready", 2, 90),  # up to 3 minutes to load
        "readinessProbe": _probe("/v2/health/ready", 5, 2),
        "livenessProbe": _probe("/v2/health/live", 10, 3),
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    name = s.name if track == "stable" else f"{s.name}-{track}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(s, name, labels, annotations=_annotations(version)),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels, "annotations": _annotations(version)},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                },
            },
        },
    }


def preview(s: Settings, version: ModelVersion) -> dict[str, Any]:
    """One pod of a version about to take traffic, outside the Service: it must start and
    pass its readiness probe before any traffic moves to it."""
    out = deployment(s, version, "preview", 1)
    outside = {"app.kubernetes.io/name": f"{s.name}-preview", "app.kubernetes.io/part-of": s.name}
    out["metadata"]["labels"].update(outside)
    out["spec"]["selector"]["matchLabels"].update(outside)
    out["spec"]["template"]["metadata"]["labels"].update(outside)
    return out


def _service(metadata: dict[str, Any], selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def service(s: Settings) -> dict[str, Any]:
    """One Service in front of every track: the split follows the ready pods."""
    return _service(_shared(s), _selector(s))


def track_service(s: Settings, track: str) -> dict[str, Any]:
    """A Service for one track's pods alone: what a Gateway API route weighs."""
    metadata = _meta(s, f"{s.name}-{track}", _labels(s, None, track))
    return _service(metadata, {**_selector(s), TRACK: track})


def http_route(s: Settings, gateway: str, weights: dict[str, int]) -> dict[str, Any]:
    """Gateway API: the Gateway ``gateway`` (``name`` or ``namespace/name``) sends each
    track its exact share of the deployment's traffic (``weights``: track → percent)."""
    namespace, _, name = gateway.rpartition("/")
    parent = {"name": name, **({"namespace": namespace} if namespace else {})}
    backends = [
        {"name": f"{s.name}-{track}", "port": SERVICE_PORT, "weight": weight}
        for track, weight in weights.items()
    ]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _shared(s),
        "spec": {"parentRefs": [parent], "rules": [{"backendRefs": backends}]},
    }


def disruption_budget(s: Settings) -> dict[str, Any]:
    """Voluntary evictions (node drains) keep at least one pod serving."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _shared(s),
        "spec": {
            "minAvailable": 1,
            "selector": {"matchLabels": _selector(s)},
        },
    }


def autoscaler(s: Settings, minimum: int) -> dict[str, Any]:
    """CPU-based scaling of the stable Deployment from ``minimum`` to max replicas (during a
    canary the minimum is the stable track's share, so the split holds until load grows)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _shared(s),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.name},
            "minReplicas": minimum,
            "maxReplicas": s.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": s.target_cpu},
                    },
                }
            ],
        },
    }


def service_monitor(s: Settings) -> dict[str, Any]:
    """Prometheus Operator: scrape every pod's /metrics."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _shared(s),
        "spec": {
            "selector": {"matchLabels": _selector(s)},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


def prometheus_rule(s: Settings, rules: list[AlertRule]) -> dict[str, Any]:
    """Prometheus Operator: the project's alert rules, the same PromQL as the rule file."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _shared(s),
        "spec": alerting_rules(rules, s.name),
    }


def split(replicas: int, canary_weight: int) -> tuple[int, int]:
    """Stable and canary pods for a canary weight in percent (at least one canary pod)."""
    canary = max(1, round(replicas * canary_weight / 100))
    return max(1, replicas - canary), canary


def objects(
    s: Settings,
    version: ModelVersion,
    *,
    canary: tuple[ModelVersion, int] | None = None,
    rules: list[AlertRule] | None = None,
    operator: bool = True,
) -> list[dict[str, Any]]:
    """Every object of the deployment; ``canary`` is (version, weight in percent)."""
    stable_pods = s.replicas
    if canary is None:
        out = [deployment(s, version, "stable", s.replicas)]
    else:
        canary_version, weight = canary
        if not 1 <= weight <= 99:
            raise InvalidInputError(f"canary weight {weight}: expected 1 to 99 percent")
        if "{version}" not in s.image:
            raise InvalidInputError(
                f"image {s.image!r} names no version, so the canary would run the stable image",
                hint="give the image as a template, e.g. registry.example/digits:{version}",
            )
        stable_pods, canary_pods = split(s.replicas, weight)
        out = [
            deployment(s, version, "stable", stable_pods),
            deployment(s, canary_version, "canary", canary_pods),
        ]
    out += [service(s), disruption_budget(s), autoscaler(s, stable_pods)]
    if operator:
        out.append(service_monitor(s))
        if rules:
            out.append(prometheus_rule(s, rules))
    return out
