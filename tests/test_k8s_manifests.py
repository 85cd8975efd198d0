"""Kubernetes manifests for a model version: every object valid against Kubernetes' own
schemas (kubernetes-validate, offline), the alert rules valid for promtool, the labels
that say what serves, and bad input refused with a clear message."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy_helpers import echo_home
from shipyard.errors import InvalidInputError
from shipyard.expressions.alert_rules import alert_rule
from shipyard.images.model_dockerfile import SERVE_COMMAND
from shipyard.k8s.manifests import Settings, objects, split
from shipyard.refs import parse_ref
from shipyard.registry import resolve
from shipyard.store import ModelVersion, open_stores
from test_monitor import promtool
from test_serving import SHIPYARD

KUBERNETES = "1.32"  # a current release; kubernetes-validate ships schemas 1.25-1.37
RULES = [alert_rule("HighErrorRate", "error_rate > 0.02", for_=120, actions=("rollback",))]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return echo_home(tmp_path_factory.mktemp("k8s"))


def version(home: Path, number: int) -> ModelVersion:
    stores = open_stores(home)
    try:
        return resolve(stores, parse_ref(f"echo:{number}"))
    finally:
        stores.close()


def by_kind(documents: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in documents:
        out.setdefault(d["kind"], []).append(d)
    return out


def test_every_object_is_valid_for_kubernetes_and_the_rules_for_promtool(
    home: Path, tmp_path: Path
) -> None:
    settings = Settings("echo", "registry.example/echo:{version}", namespace="models")
    documents = objects(settings, version(home, 1), canary=(version(home, 2), 25), rules=RULES)
    kinds = by_kind(documents)
    assert sorted(kinds) == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "PrometheusRule",
        "Service",
        "ServiceMonitor",
    ]
    for document in documents:
        if document["apiVersion"].startswith("monitoring.coreos.com"):
            continue  # Prometheus Operator CRDs: not in Kubernetes' schemas
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump(kinds["PrometheusRule"][0]["spec"]))
    checked = promtool("check", "rules", rule_file)
    assert checked.returncode == 0 and "1 rules found" in checked.stdout, checked.stdout


def test_a_schema_violation_would_be_caught() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
               "spec": {"ports": [{"port": "eighty"}]}}  # fmt: skip
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES, strict=True)


def test_pods_are_probed_on_the_v2_health_endpoints_and_never_all_replaced_at_once(
    home: Path,
) -> None:
    stable = by_kind(objects(Settings("echo", "echo:1"), version(home, 1)))["Deployment"][0]
    spec = stable["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    # the image's own command (the Dockerfile's CMD), told the deployment's name for metrics
    assert container["command"] == [*SERVE_COMMAND, "--deployment", "echo"]
    assert container["ports"][0]["containerPort"] == 8000 == int(SERVE_COMMAND[-1])


def test_labels_and_annotations_say_which_model_version_serves(home: Path) -> None:
    v1 = version(home, 1)
    stable = by_kind(objects(Settings("echo", "echo:1"), v1))["Deployment"][0]
    labels = stable["spec"]["template"]["metadata"]["labels"]
    assert labels["shipyard.dev/model"] == "echo" and labels["shipyard.dev/version"] == "1"
    annotations = stable["metadata"]["annotations"]
    assert annotations["shipyard.dev/content-digest"] == v1.content_digest


def test_a_canary_is_a_second_deployment_behind_the_same_service(home: Path) -> None:
    documents = objects(Settings("echo", "echo:{version}", replicas=4), version(home, 1),
                        canary=(version(home, 2), 25))  # fmt: skip
    kinds = by_kind(documents)
    stable, canary = kinds["Deployment"]
    assert (stable["spec"]["replicas"], canary["spec"]["replicas"]) == (3, 1)
    assert canary["metadata"]["labels"]["shipyard.dev/version"] == "2"
    selector = kinds["Service"][0]["spec"]["selector"]
    for d in (stable, canary):
        pod_labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()  # the Service reaches both tracks
    assert kinds["HorizontalPodAutoscaler"][0]["spec"]["minReplicas"] == 3
    assert split(2, 10) == (1, 1) and split(10, 50) == (5, 5)


def test_bad_quantities_and_weights_are_refused_with_what_is_expected(home: Path) -> None:
    with pytest.raises(InvalidInputError, match="'lots' is not a Kubernetes quantity"):
        Settings("echo", "echo:1", memory="lots")
    with pytest.raises(InvalidInputError, match="expected 1 <= replicas <= max replicas"):
        Settings("echo", "echo:1", replicas=8, max_replicas=4)
    with pytest.raises(InvalidInputError, match="canary weight 0: expected 1 to 99"):
        objects(Settings("echo", "echo:{version}"), version(home, 1), canary=(version(home, 2), 0))
    with pytest.raises(InvalidInputError, match="names no version"):
        objects(Settings("echo", "echo:1"), version(home, 1), canary=(version(home, 2), 10))
    with pytest.raises(InvalidInputError, match="the only placeholders"):
        Settings("echo", "echo:{tag}")


def run(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"SHIPYARD_HOME": str(home), "PATH": str(Path(SHIPYARD).parent) + ":/usr/bin:/bin"}
    return subprocess.run([SHIPYARD, *args], env=env, capture_output=True, text=True, cwd=cwd)


def test_export_kubernetes_writes_the_objects_and_a_kustomization(
    home: Path, tmp_path: Path
) -> None:
    done = run(home, "export", "kubernetes", "echo", "--version", "1", "--out", "k8s",
               "--canary-version", "2", "--canary-weight", "50", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    kustomization = yaml.safe_load((tmp_path / "k8s" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [
        "deployment-stable.yaml",
        "deployment-canary.yaml",
        "service.yaml",
        "poddisruptionbudget.yaml",
        "horizontalpodautoscaler.yaml",
        "servicemonitor.yaml",
    ]
    for file in kustomization["resources"][:-1]:
        document = yaml.safe_load((tmp_path / "k8s" / file).read_text())
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    image = yaml.safe_load((tmp_path / "k8s" / "deployment-canary.yaml").read_text())
    assert image["spec"]["template"]["spec"]["containers"][0]["image"] == "shipyard/echo:2"

    bad = run(home, "export", "kubernetes", "echo", "--version", "1", "--cpu", "fast",
              cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "'fast' is not a Kubernetes quantity" in bad.stderr
    assert "Traceback" not in bad.stderr
    unknown = run(home, "export", "kubernetes", "echo", "--version", "42", cwd=tmp_path)
    assert unknown.returncode == 4 and "Traceback" not in unknown.stderr
