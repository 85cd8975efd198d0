"""The control plane's chart, installed by a real helm into the real API server of
``make test-k8s``, which authorizes by RBAC as a cluster does.

helm installs ``shipyard export helm --control-plane``'s chart: the server's Deployment,
Service and ServiceAccount land in the release's namespace, its Role and RoleBinding in the
namespace it deploys to, and no Secret is made. Then the control plane's own identity, the
ServiceAccount's token, is put to work: the API server's rules review says it may do exactly
``RBAC_RULES`` there and nothing in any other namespace or across the cluster, and a
``shipyard server`` that holds nothing but that token deploys, canaries through a Gateway,
promotes, rolls back and undeploys a model there. No container runs (``KubeletStandIn``
plays the kubelet's part).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import test_helm_chart
from deploy_helpers import ControlPlane, echo_home, free_port
from k8s_helpers import ApiServer, KubeletStandIn, crd
from shipyard.k8s.control_plane import RBAC_RULES, role_rules, write_control_plane_chart

pytestmark = [
    pytest.mark.k8s,
    # the test cluster's certificate is its own, self-signed: its kubeconfig skips verification
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
helm = test_helm_chart.helm  # the fixture: scripts/helm.sh's helm, fetched once

RELEASE_NS, DEPLOY_NS = "shipyard", "ml"
ACCOUNT = f"system:serviceaccount:{RELEASE_NS}:shipyard"
IMAGE = "registry.example/shipyard/control-plane:test"
CRDS = [
    crd("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
    crd("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"),
    crd("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules"),
]
Grant = tuple[str, str, str, str]  # (API group, resource, resource name or "", verb)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(tmp_path_factory.mktemp("apiserver")) as server:
        assert server.kubectl("create", "namespace", DEPLOY_NS).returncode == 0
        server.install_crds(CRDS)
        yield server


@pytest.fixture(scope="module")
def kubelet(cluster: ApiServer) -> Iterator[KubeletStandIn]:
    with KubeletStandIn(cluster.kubeconfig) as standin:
        yield standin


@pytest.fixture(scope="module")
def installed(
    cluster: ApiServer, kubelet: KubeletStandIn, helm: str, tmp_path_factory: pytest.TempPathFactory
) -> subprocess.CompletedProcess[str]:
    """``helm install shipyard`` of the control-plane chart, as the README shows it."""
    work = tmp_path_factory.mktemp("control-plane")
    chart = work / "chart"
    write_control_plane_chart(chart, IMAGE)
    given = work / "values.yaml"
    given.write_text(
        yaml.safe_dump(
            {"artifacts": {"location": "s3://team-models/shipyard"}, "deployNamespace": DEPLOY_NS}
        )
    )
    done = subprocess.run(
        [helm, "install", "shipyard", str(chart), "--namespace", RELEASE_NS,
         "--create-namespace", "-f", str(given), "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def get(cluster: ApiServer, kind: str, name: str, namespace: str) -> dict[str, Any]:
    done = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_helm_installs_the_chart_where_it_says_and_makes_no_secret(
    cluster: ApiServer, installed: subprocess.CompletedProcess[str]
) -> None:
    assert "kubectl create secret" in installed.stdout  # NOTES: the Secrets to make first
    deployment = get(cluster, "deployment", "shipyard", RELEASE_NS)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "shipyard"
    assert pod["containers"][0]["image"] == IMAGE
    # the controller manager made its pod from the template: the API server admitted it
    rollout = cluster.kubectl(
        "rollout", "status", "deployment/shipyard", "-n", RELEASE_NS, "--timeout=60s"
    )
    assert rollout.returncode == 0, rollout.stderr
    assert get(cluster, "service", "shipyard", RELEASE_NS)["spec"]["ports"][0]["port"] == 7700
    assert get(cluster, "serviceaccount", "shipyard", RELEASE_NS)
    binding = get(cluster, "rolebinding", "shipyard", DEPLOY_NS)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "shipyard", "namespace": RELEASE_NS}
    ]
    assert get(cluster, "role", "shipyard", DEPLOY_NS)["rules"] == role_rules(DEPLOY_NS)
    for namespace in (RELEASE_NS, DEPLOY_NS):
        assert cluster.kubectl("get", "role", "shipyard", "-n", namespace).returncode == (
            0 if namespace == DEPLOY_NS else 1
        )
    # the only Secrets: helm's record of the release and the ServiceAccount's token
    secrets = json.loads(cluster.kubectl("get", "secrets", "-A", "-o", "json").stdout)["items"]
    kinds = {s["type"] for s in secrets if s["metadata"]["namespace"] in (RELEASE_NS, DEPLOY_NS)}
    assert kinds == {"helm.sh/release.v1", "kubernetes.io/service-account-token"}


def gone(cluster: ApiServer, kind: str, seconds: float = 20) -> bool:
    """No object of ``kind`` for ``echo`` is left in the namespace it deployed to (soon:
    deletions finish after the API server accepts them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        args = ("get", kind, "-n", DEPLOY_NS, "-l", "app.kubernetes.io/name=echo", "-o", "name")
        done = cluster.kubectl(*args)
        if done.returncode == 0 and not done.stdout.strip():
            return True
        time.sleep(0.2)
    return False


def grants(cluster: ApiServer, kubeconfig: Path, namespace: str) -> set[Grant]:
    """What the holder of ``kubeconfig`` may do in ``namespace``, as the API server's
    authorizer answers a SelfSubjectRulesReview, one (group, resource, name, verb) each."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace},
    }
    path = kubeconfig.with_suffix(".review.json")
    path.write_text(json.dumps(review))
    done = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", "create", "-f", str(path), "-o", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return expand(json.loads(done.stdout)["status"]["resourceRules"])


def expand(rules: list[dict[str, Any]]) -> set[Grant]:
    return {
        (group, resource, name, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for name in rule.get("resourceNames") or [""]
        for verb in rule["verbs"]
    }


def test_the_service_account_may_do_exactly_rbac_rules_in_its_namespace_and_nothing_else(
    cluster: ApiServer, installed: subprocess.CompletedProcess[str]
) -> None:
    own = cluster.service_account_kubeconfig(RELEASE_NS, "shipyard")
    # what any account may do (ask about itself): the baseline every grant is measured from
    assert cluster.kubectl("create", "serviceaccount", "nobody", "-n", RELEASE_NS).returncode == 0
    nobody = cluster.service_account_kubeconfig(RELEASE_NS, "nobody")
    for namespace in (DEPLOY_NS, RELEASE_NS, "default", "kube-system"):
        granted = grants(cluster, own, namespace) - grants(cluster, nobody, namespace)
        expected = expand(role_rules(DEPLOY_NS)) if namespace == DEPLOY_NS else set()
        assert granted == expected, namespace
    assert {r.group for r in RBAC_RULES} == {g for g, *_ in expand(role_rules(DEPLOY_NS))}
    # beyond namespaces: nothing cluster-wide, and no Secret even where it deploys
    for verb, what, namespace in [
        ("list", "namespaces", ""),
        ("get", "namespaces/default", "default"),  # a namespace's get is asked in itself
        ("create", "clusterroles", ""),
        ("list", "nodes", ""),
        ("get", "secrets", DEPLOY_NS),
        ("create", "pods/exec", DEPLOY_NS),
        ("create", "rolebindings", DEPLOY_NS),
        ("update", "deployments", DEPLOY_NS),
    ]:
        args = ["auth", "can-i", verb, what, f"--as={ACCOUNT}"]
        asked = cluster.kubectl(*args, *(["-n", namespace] if namespace else []))
        assert asked.stdout.strip() == "no", (verb, what, asked.stdout, asked.stderr)
    allowed = cluster.kubectl(
        "auth", "can-i", "get", f"namespaces/{DEPLOY_NS}", f"--as={ACCOUNT}", "-n", DEPLOY_NS
    )
    assert allowed.stdout.strip() == "yes"


@pytest.fixture
def plane(
    cluster: ApiServer,
    installed: subprocess.CompletedProcess[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ControlPlane]:
    """A ``shipyard server`` whose only access to the cluster is the ServiceAccount's token."""
    own = cluster.service_account_kubeconfig(RELEASE_NS, "shipyard")
    monkeypatch.setenv("KUBECONFIG", str(own))
    plane = ControlPlane(echo_home(tmp_path), free_port())
    plane.start()
    try:
        yield plane
    finally:
        plane.cleanup()


def test_a_server_with_only_the_service_accounts_token_runs_a_deployments_whole_life(
    plane: ControlPlane, cluster: ApiServer
) -> None:
    assert os.environ["KUBECONFIG"] != str(cluster.kubeconfig)
    first = plane.cli("deploy", "echo", "--version", "1", "--target", "kubernetes",
                      "--namespace", DEPLOY_NS, "--gateway", "infra/web")  # fmt: skip
    assert first.returncode == 0, first.stderr + first.stdout
    assert get(cluster, "servicemonitor", "echo", DEPLOY_NS)["spec"]
    assert get(cluster, "hpa", "echo", DEPLOY_NS)["spec"]["maxReplicas"] >= 1
    canary = plane.cli("deploy", "echo", "--version", "2", "--strategy", "canary",
                       "--steps", "10,100")  # fmt: skip
    assert canary.returncode == 0, canary.stderr
    split = plane.wait_for(lambda s: s["in_sync"])
    assert split["observed"]["routes"]["weights"] == {"1": 90, "2": 10}
    assert plane.cli("promote", "echo").returncode == 0
    promoted = plane.wait_for(lambda s: s["in_sync"] and s["stable"] == 2)
    assert promoted["observed"]["ready"]
    back = plane.cli("rollback", "echo")
    assert back.returncode == 0, back.stderr
    assert plane.wait_for(lambda s: s["in_sync"] and s["stable"] == 1)["observed"]["ready"]
    assert plane.cli("undeploy", "echo").returncode == 0
    for kind in ("deployment", "service", "httproute", "servicemonitor", "hpa"):
        assert gone(cluster, kind), kind
    # and where its Role does not reach, the API server refuses it, and nothing is recorded
    elsewhere = plane.cli("deploy", "echo", "--version", "1", "--name", "elsewhere", "--target",
                          "kubernetes", "--namespace", "default")  # fmt: skip
    assert elsewhere.returncode != 0
    assert 'namespaces "default" is forbidden' in elsewhere.stderr
    assert "deployNamespace" in elsewhere.stderr  # the hint: where its Role reaches
    assert "elsewhere" not in [s["name"] for s in plane.api("GET", "deployments")]
