"""The control plane on the cluster it deploys to: a Helm chart of ``shipyard server``.

The chart (``k8s/control_plane_chart/``) runs one server pod as a non-root user on a
read-only root filesystem, behind a ClusterIP Service, as a ServiceAccount whose Role
in the namespace it deploys to holds exactly :data:`RBAC_RULES`: what the kubernetes
target (``k8s/target.py`` through ``k8s/cluster.py``) calls, and nothing else. The
target finds the cluster through the pod's service account (``cluster.IN_CLUSTER``).
Everything secret (the store's URL, the admin token, passwords, S3 keys, the TLS key) is
a Secret the chart names and never creates.

:func:`control_plane_objects` renders in Python what ``helm template`` renders from the
same values; the tests keep the two equal, as they do for the model chart (``helm.py``,
whose values layout and file writing this module shares).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shipyard import __version__
from shipyard.client.state import DEFAULT_PORT, TOKEN_ENV
from shipyard.errors import InvalidInputError
from shipyard.home import ARTIFACTS_ENV, HOME_ENV, STORE_ENV
from shipyard.images import CONTROL_PLANE_HOME
from shipyard.k8s.helm import chart_files, layout_values, split_image, write_files

CHART = "shipyard-control-plane"
FOLDER = "control_plane_chart"
PORT = DEFAULT_PORT  # shipyard server's, in the pod and on the Service
HOME = CONTROL_PLANE_HOME  # SHIPYARD_HOME, as the image sets it: the pod's own disk, an emptyDir
TLS_DIR = "/etc/shipyard/tls"
NAME_LABEL = "shipyard-control-plane"  # not a model deployment's name label: never selected as one


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the control plane's Role: an API group, its resources, the verbs the
    kubernetes target uses on them, and why."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str
    own_namespace: bool = False  # limited to the namespace's own object (resourceNames)


_APPLY = ("create", "delete", "list", "patch")  # server-side apply (a patch that may create),
# and stop/prune: list the deployment's objects by label, delete them
RBAC_RULES: tuple[Rule, ...] = (
    Rule("", ("namespaces",), ("get",), "check(): the namespace exists", own_namespace=True),
    Rule("", ("pods",), ("list",), "rollout progress and the pods' own reason, observe()"),
    Rule("", ("services",), _APPLY, "the deployment's Service (and per-track Services)"),
    Rule(
        "apps",
        ("deployments",),
        ("create", "delete", "get", "list", "patch"),
        "the tracks' Deployments; get: rollout status, kept scale, another tool's Deployment",
    ),
    Rule("policy", ("poddisruptionbudgets",), _APPLY, "one pod kept through node drains"),
    Rule("autoscaling", ("horizontalpodautoscalers",), _APPLY, "the autoscaler on CPU"),
    Rule(
        "monitoring.coreos.com",
        ("servicemonitors", "prometheusrules"),
        _APPLY,
        "the pods' scrape and the alert rules, where the Prometheus Operator runs",
    ),
    Rule(
        "gateway.networking.k8s.io",
        ("httproutes",),
        ("create", "delete", "get", "list", "patch"),
        "exact canary weights through a Gateway (--gateway); get: the weights observed",
    ),
)


def role_rules(namespace: str) -> list[dict[str, Any]]:
    """:data:`RBAC_RULES` as a Role's ``rules`` in ``namespace``."""
    rules = []
    for rule in RBAC_RULES:
        entry: dict[str, Any] = {"apiGroups": [rule.group], "resources": list(rule.resources)}
        if rule.own_namespace:
            entry["resourceNames"] = [namespace]
        rules.append({**entry, "verbs": list(rule.verbs)})
    return rules


def chart_metadata() -> dict[str, Any]:
    """``Chart.yaml``: the chart's version is Shipyard's."""
    return {
        "apiVersion": "v2",
        "name": CHART,
        "description": "Shipyard's control plane (shipyard server), deploying to its cluster",
        "type": "application",
        "version": __version__,
        "appVersion": __version__,
        # its objects' newest field is the pod's seccompProfile (1.19); the kubernetes
        # target writes older API names where a cluster lacks autoscaling/v2 or policy/v1
        "kubeVersion": ">=1.19.0-0",
    }


def values_text(image: str) -> str:
    """``values.yaml`` for the control plane's ``image`` (``repository:tag``)."""
    repository, tag = split_image(image)
    chosen = {"image": {"repository": repository, "tag": tag}}
    return layout_values(chart_files(FOLDER), chosen, set(), version=__version__)


def values(image: str) -> dict[str, Any]:
    """The chart's default values, as ``values.yaml`` has them."""
    loaded: dict[str, Any] = yaml.safe_load(values_text(image))
    return loaded


def write_control_plane_chart(out: Path, image: str) -> list[Path]:
    """Write the control plane's chart into ``out``; returns the files written."""
    return write_files(out, chart_files(FOLDER), chart_metadata(), values_text(image))


def check_values(v: dict[str, Any]) -> None:
    """What the templates' ``controlPlane.check`` refuses, with the same words."""
    location, claim = v["artifacts"]["location"], v["artifacts"].get("existingClaim")
    if not location:
        raise InvalidInputError(
            "artifacts.location is required: s3://BUCKET/PREFIX, or a directory on "
            "artifacts.existingClaim (the pod's own disk goes with the pod)"
        )
    if location.startswith("s3://"):
        if claim:
            raise InvalidInputError(
                f"artifacts.existingClaim {claim}: artifacts.location {location} is in S3, "
                "not on a volume"
            )
    elif not location.startswith("/"):
        raise InvalidInputError(
            f"artifacts.location {location}: expected s3://BUCKET/PREFIX or an absolute directory"
        )
    elif not claim:
        raise InvalidInputError(
            f"artifacts.location {location} is a directory: give artifacts.existingClaim, a "
            "PersistentVolumeClaim to mount there (the pod's own disk goes with the pod)"
        )


def _selector(release: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME_LABEL, "app.kubernetes.io/instance": release}


def _labels(release: str) -> dict[str, str]:
    return {
        **_selector(release),
        "app.kubernetes.io/component": "control-plane",
        "app.kubernetes.io/part-of": "shipyard",
        "app.kubernetes.io/version": __version__,
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": f"{CHART}-{__version__}",
    }


def _secret(env: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _environment(v: dict[str, Any]) -> list[dict[str, Any]]:
    """The server's environment: Secrets by reference, the rest as values."""
    env: list[dict[str, Any]] = [
        {"name": HOME_ENV, "value": HOME},
        _secret(STORE_ENV, v["store"]["existingSecret"], v["store"]["key"]),
        _secret(TOKEN_ENV, v["token"]["existingSecret"], v["token"]["key"]),
    ]
    password = v.get("postgresPassword") or {}
    if password.get("existingSecret"):
        env.append(_secret("PGPASSWORD", password["existingSecret"], password["key"]))
    env.append({"name": ARTIFACTS_ENV, "value": v["artifacts"]["location"]})
    s3 = v.get("s3") or {}
    if s3.get("existingSecret"):
        env.append(_secret("AWS_ACCESS_KEY_ID", s3["existingSecret"], s3["accessKeyIdKey"]))
        env.append(_secret("AWS_SECRET_ACCESS_KEY", s3["existingSecret"], s3["secretAccessKeyKey"]))
    for name, key in (("AWS_ENDPOINT_URL", "endpointUrl"), ("AWS_DEFAULT_REGION", "region")):
        if s3.get(key):
            env.append({"name": name, "value": s3[key]})
    return env


def _container(v: dict[str, Any]) -> dict[str, Any]:
    image = v["image"]["repository"] + (f":{v['image']['tag']}" if v["image"].get("tag") else "")
    tls = bool((v.get("tls") or {}).get("existingSecret"))
    command = ["shipyard", "server", "--host", "0.0.0.0", "--port", str(PORT)]
    if tls:
        command += ["--tls-cert", f"{TLS_DIR}/tls.crt", "--tls-key", f"{TLS_DIR}/tls.key"]
    port = {"tcpSocket": {"port": "api"}}
    requests, limits = v["resources"]["requests"], v["resources"].get("limits") or {}
    resources: dict[str, Any] = {
        "requests": {"cpu": str(requests["cpu"]), "memory": str(requests["memory"])}
    }
    if limits.get("cpu") or limits.get("memory"):
        resources["limits"] = {k: str(limits[k]) for k in ("cpu", "memory") if limits.get(k)}
    mounts: list[dict[str, Any]] = [
        {"name": "home", "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if tls:
        mounts.append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})
    if v["artifacts"].get("existingClaim"):
        mounts.append({"name": "artifacts", "mountPath": v["artifacts"]["location"]})
    return {
        "name": "server",
        "image": image,
        "imagePullPolicy": v["image"].get("pullPolicy", "IfNotPresent"),
        "command": command,
        "ports": [{"name": "api", "containerPort": PORT, "protocol": "TCP"}],
        "env": _environment(v),
        "startupProbe": {**port, "periodSeconds": 2, "failureThreshold": 60},
        "readinessProbe": {**port, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3},
        "livenessProbe": {**port, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 6},
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def _deployment(v: dict[str, Any], meta: dict[str, Any], release: str) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = [
        {"name": "home", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if (v.get("tls") or {}).get("existingSecret"):
        volumes.append({"name": "tls", "secret": {"secretName": v["tls"]["existingSecret"]}})
    if v["artifacts"].get("existingClaim"):
        claim = {"claimName": v["artifacts"]["existingClaim"]}
        volumes.append({"name": "artifacts", "persistentVolumeClaim": claim})
    pod: dict[str, Any] = {
        "serviceAccountName": v["name"],
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
    }
    if v.get("imagePullSecrets"):
        pod["imagePullSecrets"] = [{"name": name} for name in v["imagePullSecrets"]]
    pod |= {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(v)],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "strategy": {"type": "Recreate"},  # one server at a time (see the template)
            "selector": {"matchLabels": _selector(release)},
            "template": {"metadata": {"labels": _labels(release)}, "spec": pod},
        },
    }


def _meta(name: str, namespace: str, release: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": _labels(release)}


def control_plane_objects(
    v: dict[str, Any], *, release: str, namespace: str
) -> list[dict[str, Any]]:
    """The objects ``helm template RELEASE CHART --namespace NAMESPACE`` renders from the
    values ``v`` (every value given, as :func:`values` and overrides merged)."""
    check_values(v)
    name = v["name"]
    deploy_to = v.get("deployNamespace") or namespace
    account_meta = _meta(name, namespace, release)
    annotations = (v.get("serviceAccount") or {}).get("annotations")
    if annotations:
        account_meta["annotations"] = dict(annotations)
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account_meta}
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        account,
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": _meta(name, deploy_to, release),
            "rules": role_rules(deploy_to),
        },
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": _meta(name, deploy_to, release),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, namespace, release),
            "spec": {
                "type": "ClusterIP",
                "selector": _selector(release),
                "ports": [{"name": "api", "port": PORT, "targetPort": "api", "protocol": "TCP"}],
            },
        },
        _deployment(v, _meta(name, namespace, release), release),
    ]
