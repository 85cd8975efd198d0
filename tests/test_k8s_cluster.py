"""The kubernetes target against a real kube-apiserver and controller manager (``make test-k8s``).

Deploy, canary, promote, roll back and a rollout that cannot finish, each through
the CLI and the control plane, checked in the cluster with kubectl. Pods get their
status from ``KubeletStandIn`` (there is no kubelet here; no container runs).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy_helpers import ControlPlane, Load, echo_home, free_port
from k8s_helpers import ApiServer, KubeletStandIn, crd
from prometheus_helpers import start_prometheus

pytestmark = [
    pytest.mark.k8s,
    # the test cluster's certificate is its own, self-signed: its kubeconfig skips verification
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
NS = "ml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(tmp_path_factory.mktemp("apiserver")) as server:
        assert server.kubectl("create", "namespace", NS).returncode == 0
        yield server


@pytest.fixture(scope="module")
def kubelet(cluster: ApiServer) -> Iterator[KubeletStandIn]:
    with KubeletStandIn(cluster.kubeconfig) as standin:
        yield standin


@pytest.fixture(scope="module")
def cp(
    cluster: ApiServer, kubelet: KubeletStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    before = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)  # the CLI's and the control plane's
    plane = ControlPlane(echo_home(tmp_path_factory.mktemp("k8s-home")), free_port())
    plane.start()
    try:
        yield plane
    finally:
        plane.cleanup()
        if before is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = before


def get(cluster: ApiServer, kind: str, name: str) -> dict[str, Any]:
    done = cluster.kubectl("get", kind, name, "-n", NS, "-o", "json", "--show-managed-fields")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def missing(cluster: ApiServer, kind: str, name: str) -> bool:
    return cluster.kubectl("get", kind, name, "-n", NS).returncode != 0


def gone(cluster: ApiServer, kind: str, name: str, seconds: float = 20) -> bool:
    """The object is (or soon is) deleted: the abort is recorded first, then applied."""
    deadline = time.monotonic() + seconds
    while not missing(cluster, kind, name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@contextlib.contextmanager
def cannot_pull(kubelet: KubeletStandIn, image: str) -> Iterator[None]:
    """While inside, the kubelet stand-in leaves pods of ``image`` in ImagePullBackOff."""
    kubelet.unpullable.add(image)
    try:
        yield
    finally:
        kubelet.unpullable.discard(image)


def production(cp: ControlPlane) -> int:
    """The version the production alias moved to last."""
    moves = [e for e in cp.events("alias.") if e["data"]["alias"] == "production"]
    return int(moves[-1]["data"]["to_version"])


def image(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def test_deploy_canary_promote_and_rollback_on_a_real_api_server(
    cp: ControlPlane, cluster: ApiServer
) -> None:
    first = cp.cli("deploy", "echo", "--version", "1", "--target", "kubernetes", "--namespace", NS)
    assert first.returncode == 0, first.stderr + first.stdout
    stable = get(cluster, "deployment", "echo")
    assert image(stable) == "shipyard/echo:1"
    assert stable["status"]["availableReplicas"] == 2  # ready, as rollout status saw it
    labels = stable["metadata"]["labels"]
    assert labels["shipyard.dev/version"] == "1" and labels["shipyard.dev/track"] == "stable"
    assert stable["metadata"]["annotations"]["shipyard.dev/content-digest"].startswith("sha256:")
    managers = {m["manager"] for m in stable["metadata"]["managedFields"]}
    assert "shipyard" in managers  # written by server-side apply with Shipyard's field manager
    assert get(cluster, "service", "echo")["spec"]["selector"] == {"app.kubernetes.io/name": "echo"}
    # this 1.20 API server has no autoscaling/v2 or policy/v1: the same objects, older names
    hpa = get(cluster, "horizontalpodautoscaler.v2beta2.autoscaling", "echo")
    assert hpa["spec"]["maxReplicas"] == 6
    assert get(cluster, "poddisruptionbudget", "echo")["spec"]["minAvailable"] == 1

    status = cp.status()
    assert status["target"] == "kubernetes" and status["stable"] == 1
    assert status["url"] == f"http://echo.{NS}.svc:80"
    assert status["observed"]["ready"] and status["in_sync"]
    assert len(status["observed"]["workers"]) == 2

    # a canary at 50 %: v2 beside v1, one pod each, behind the one Service; it pauses there
    canary = cp.cli("deploy", "echo", "--version", "2", "--strategy", "canary", "--steps", "50,100")
    assert canary.returncode == 0, canary.stderr + canary.stdout
    status = cp.status()
    assert status["rollout"]["state"] == "paused" and status["rollout"]["step"] == 1
    # the step is recorded, then applied: its pods come up while the rollout holds there
    split = cp.wait_for(lambda s: s["observed"]["routes"]["weights"] == {"1": 50, "2": 50})
    assert split["in_sync"]
    assert image(get(cluster, "deployment", "echo")) == "shipyard/echo:1"
    canary_deployment = get(cluster, "deployment", "echo-canary")
    assert image(canary_deployment) == "shipyard/echo:2"
    assert canary_deployment["spec"]["replicas"] == 1
    assert get(cluster, "deployment", "echo")["spec"]["replicas"] == 1

    promoted = cp.cli("promote", "echo")
    assert promoted.returncode == 0, promoted.stderr
    stable = get(cluster, "deployment", "echo")
    assert image(stable) == "shipyard/echo:2" and stable["spec"]["replicas"] == 2
    assert missing(cluster, "deployment", "echo-canary")  # pruned once v2 was ready
    assert cp.status()["stable"] == 2
    assert production(cp) == 2

    # rollback re-applies v1's objects, recorded as an event, the alias with it
    back = cp.cli("rollback", "echo")
    assert back.returncode == 0, back.stderr
    assert image(get(cluster, "deployment", "echo")) == "shipyard/echo:1"
    assert cp.status()["stable"] == 1
    assert [e["data"]["to_version"] for e in cp.events("deployment.rolled_back")] == [1]
    assert production(cp) == 1


def test_an_image_that_cannot_be_pulled_never_reaches_the_stable_pods_and_says_why(
    cp: ControlPlane, cluster: ApiServer, kubelet: KubeletStandIn
) -> None:
    assert image(get(cluster, "deployment", "echo")) == "shipyard/echo:1"
    with cannot_pull(kubelet, "shipyard/echo:3"):
        bad = cp.cli("deploy", "echo", "--version", "3", "--rollout-timeout", "8s", "--target",
                     "kubernetes", "--namespace", NS)  # fmt: skip
    assert bad.returncode != 0
    said = bad.stdout + bad.stderr
    assert "ImagePullBackOff" in said and "shipyard/echo:3" in said, said
    stable = get(cluster, "deployment", "echo")
    assert image(stable) == "shipyard/echo:1"  # taken back: v1's objects again
    assert stable["status"]["availableReplicas"] == 2  # and never fewer pods serving
    status = cp.status()
    assert status["stable"] == 1 and status["rollout"]["state"] == "failed"
    assert gone(cluster, "deployment", "echo-preview")  # the one pod that tried, removed


def test_a_first_deploy_that_cannot_start_leaves_nothing_behind(
    cp: ControlPlane, cluster: ApiServer, kubelet: KubeletStandIn
) -> None:
    with cannot_pull(kubelet, "shipyard/echo:5"):
        bad = cp.cli("deploy", "echo", "--version", "5", "--name", "never", "--target",
                     "kubernetes", "--namespace", NS)  # fmt: skip
    assert bad.returncode != 0
    assert "did not start; deployment 'never' was not created" in bad.stderr
    assert "ImagePullBackOff" in bad.stderr
    assert "never" not in [s["name"] for s in cp.api("GET", "deployments")]
    for kind in ("deployment", "service", "poddisruptionbudget", "hpa"):
        assert gone(cluster, kind, "never"), kind


def test_a_canary_step_splits_the_pods_the_autoscaler_runs_and_never_shrinks_them(
    cp: ControlPlane, cluster: ApiServer
) -> None:
    assert cp.status()["stable"] == 1
    assert cluster.kubectl("scale", "deployment/echo", "-n", NS, "--replicas=4").returncode == 0
    canary = cp.cli("deploy", "echo", "--version", "2", "--strategy", "canary", "--steps", "50,100")
    assert canary.returncode == 0, canary.stderr
    cp.wait_for(lambda s: s["in_sync"] and s["observed"]["routes"]["weights"] == {"1": 50, "2": 50})
    assert get(cluster, "deployment", "echo")["spec"]["replicas"] == 2
    assert get(cluster, "deployment", "echo-canary")["spec"]["replicas"] == 2  # 4 pods, halved
    assert cp.cli("rollback", "echo").returncode == 0  # aborts the canary: back to v1
    assert gone(cluster, "deployment", "echo-canary")
    assert cp.status()["stable"] == 1


def test_a_canary_analysed_through_prometheus_is_aborted_and_its_pods_removed(
    cp: ControlPlane, cluster: ApiServer, tmp_path: Path
) -> None:
    """Canary analysis on a cluster reads Prometheus. No container runs here, so the pods'
    metrics come from the same model server run locally as a stand-in (deployment ``echo``,
    v1 and the slow v3 at 50 % each, as the canary step splits them), scraped by a real
    Prometheus."""
    assert cp.status()["stable"] == 1
    pods = ControlPlane(echo_home(tmp_path), free_port())
    pods.start()
    try:
        port = free_port()
        pods.api("POST", "deployments", {"model": "echo", "version": 1, "port": port})
        pods.wait_for(lambda s: s["stable"] == 1 and s["in_sync"])
        pods.api("PUT", "deployments/echo/traffic", {"weights": {"1": 50, "3": 50}})
        with start_prometheus(tmp_path, [f"127.0.0.1:{port}"]) as prometheus, Load(port, 2):
            monitor = {"alerts": [], "prometheus_url": prometheus.url}
            cp.api("PUT", "deployments/echo/monitor", {"monitor": monitor})
            canary = cp.cli(
                "deploy", "echo", "--version", "3", "--strategy", "canary", "--steps", "50,100",
                "--interval", "4s", "--rule", "p95_latency < 50ms",
            )  # fmt: skip
    finally:
        pods.cleanup()
    assert canary.returncode != 0
    status = cp.status()
    assert status["rollout"]["state"] == "aborted" and status["stable"] == 1
    assert "analysis failed at step 1" in status["rollout"]["error"]
    analysis = status["rollout"]["analysis"]
    assert analysis["new"]["requests"] >= 20 and analysis["new"]["p95_latency"] > 0.05
    assert gone(cluster, "deployment", "echo-canary")
    assert image(get(cluster, "deployment", "echo")) == "shipyard/echo:1"


HTTPROUTE_CRD = crd("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")


def test_with_a_gateway_a_canary_gets_its_exact_weight_from_an_httproute(
    cp: ControlPlane, cluster: ApiServer
) -> None:
    refused = cp.cli("deploy", "echo", "--version", "1", "--name", "routed", "--target",
                     "kubernetes", "--namespace", NS, "--gateway", "infra/web")  # fmt: skip
    assert refused.returncode == 2 and "has no Gateway API (HTTPRoute)" in refused.stderr
    cluster.install_crds([HTTPROUTE_CRD])

    first = cp.cli("deploy", "echo", "--version", "1", "--name", "routed", "--target",
                   "kubernetes", "--namespace", NS, "--gateway", "infra/web")  # fmt: skip
    assert first.returncode == 0, first.stderr
    canary = cp.cli("deploy", "echo", "--version", "2", "--name", "routed", "--strategy",
                    "canary", "--steps", "10,100")  # fmt: skip
    assert canary.returncode == 0, canary.stderr
    split = cp.wait_for(lambda s: s["in_sync"], name="routed")
    assert split["observed"]["routes"]["weights"] == {"1": 90, "2": 10}  # not 1 pod of 2
    route = get(cluster, "httproute", "routed")["spec"]
    assert route["parentRefs"] == [{"name": "web", "namespace": "infra"}]
    assert route["rules"][0]["backendRefs"] == [
        {"name": "routed-stable", "port": 80, "weight": 90},
        {"name": "routed-canary", "port": 80, "weight": 10},
    ]
    selector = get(cluster, "service", "routed-canary")["spec"]["selector"]
    assert selector == {"app.kubernetes.io/name": "routed", "shipyard.dev/track": "canary"}

    assert cp.cli("promote", "routed").returncode == 0
    done = cp.wait_for(lambda s: s["in_sync"] and s["stable"] == 2, name="routed")
    assert done["observed"]["routes"]["weights"] == {"2": 100}
    backends = get(cluster, "httproute", "routed")["spec"]["rules"][0]["backendRefs"]
    assert backends == [{"name": "routed-stable", "port": 80, "weight": 100}]
    assert gone(cluster, "service", "routed-canary")
    assert cp.cli("undeploy", "routed").returncode == 0
    assert gone(cluster, "httproute", "routed")


def test_a_namespace_that_does_not_exist_is_refused_and_nothing_is_created(
    cp: ControlPlane, cluster: ApiServer
) -> None:
    refused = cp.cli(
        "deploy", "echo", "--version", "1", "--name", "elsewhere", "--target", "kubernetes",
        "--namespace", "no-such-namespace",
    )  # fmt: skip
    assert refused.returncode == 2
    assert "namespace 'no-such-namespace' does not exist" in refused.stderr
    assert "kubectl create namespace no-such-namespace" in refused.stderr
    assert "elsewhere" not in [s["name"] for s in cp.api("GET", "deployments")]
    found = cluster.kubectl("get", "deployments", "-A", "-l", "app.kubernetes.io/name=elsewhere")
    assert "elsewhere" not in found.stdout


def test_strategies_a_cluster_cannot_run_are_refused_and_nothing_is_recorded(
    cp: ControlPlane,
) -> None:
    assert cp.status()["target"] == "kubernetes"
    refused = cp.cli("deploy", "echo", "--version", "2", "--strategy", "blue-green")
    assert refused.returncode == 2
    assert "needs the local target" in refused.stderr
    new = cp.cli("deploy", "echo", "--version", "2", "--name", "bg", "--target", "kubernetes",
                 "--namespace", NS, "--strategy", "shadow")  # fmt: skip
    assert new.returncode == 2 and "needs the local target" in new.stderr
    assert "bg" not in [s["name"] for s in cp.api("GET", "deployments")]
    split = cp.refused(
        "PUT", "deployments/echo/traffic", {"weights": {"1": 100}, "shadow": {"2": 10}}
    )
    assert split.status == 400 and "shadow traffic needs the local target" in str(split)
    assert cp.status()["desired"]["shadow"] == {}


def test_undeploy_deletes_every_object(cp: ControlPlane, cluster: ApiServer) -> None:
    done = cp.cli("deploy", "echo", "--version", "2", "--name", "gone", "--target", "kubernetes",
                  "--namespace", NS, "--replicas", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not missing(cluster, "deployment", "gone")
    assert cp.cli("undeploy", "gone").returncode == 0
    for kind in ("deployment", "service", "poddisruptionbudget", "hpa"):
        assert gone(cluster, kind, "gone"), kind
