"""The kubernetes target without a cluster: rollout status read from API objects recorded
from a real kube-apiserver and controller manager, kubeconfig rules, and the refusals a
user meets before anything is applied (``make test-k8s`` runs the rest against a real one).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy_helpers import ControlPlane, echo_home, free_port
from k8s_helpers import kubeconfig
from shipyard.errors import InvalidInputError
from shipyard.k8s.cluster import resolve_access
from shipyard.k8s.progress import deployment_progress, pod_problem, stuck

RECORDED = Path(__file__).parent / "data" / "k8s"


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


# -- rollout status, from recorded API objects ------------------------------------------


def test_a_deployment_whose_pods_are_not_ready_is_not_done() -> None:
    progress = deployment_progress(recorded("deployment-pending.json"))
    assert not progress.done
    assert progress.message == "digits: 0 of 2 pods available"


def test_a_deployment_with_every_pod_available_is_done() -> None:
    progress = deployment_progress(recorded("deployment-ready.json"))
    assert progress.done and progress.ready == 2 and progress.wanted == 2


def test_a_rolling_update_stuck_on_its_first_new_pod_is_not_done() -> None:
    # maxUnavailable 0: the two old pods stay available while the new one cannot start
    deployment = recorded("deployment-stuck.json")
    assert deployment["status"]["availableReplicas"] == 2
    progress = deployment_progress(deployment)
    assert not progress.done
    assert progress.message == "digits: 1 of 2 pods updated"


def test_a_spec_the_controller_has_not_seen_yet_is_not_done() -> None:
    deployment = recorded("deployment-ready.json")
    deployment["metadata"]["generation"] += 1  # as right after an apply
    assert deployment_progress(deployment).message == "digits: waiting for the controller to see it"


def test_the_pods_own_reason_is_reported_for_an_image_that_cannot_be_pulled() -> None:
    pods = recorded("pods-stuck.json")["items"]
    problem = pod_problem(pods)
    assert problem is not None
    assert "ImagePullBackOff" in problem and 'pulling image "shipyard/digits:2"' in problem
    assert stuck(pods)
    ready = [p for p in pods if p["spec"]["containers"][0]["image"] == "shipyard/digits:1"]
    assert pod_problem(ready) is None and not stuck(ready)


# -- kubeconfig rules -------------------------------------------------------------------


def test_kubeconfig_context_and_namespace_follow_kubectl_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text(kubeconfig("https://127.0.0.1:6443", namespace="team"))
    monkeypatch.setenv("KUBECONFIG", str(config))
    access = resolve_access()
    assert (access.kubeconfig, access.context, access.namespace) == (str(config), "test", "team")
    assert resolve_access(namespace="other").namespace == "other"
    with pytest.raises(InvalidInputError, match="context 'prod' is not in") as err:
        resolve_access(context="prod")
    assert "known contexts: test" in (err.value.hint or "")


def test_no_kubeconfig_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nowhere"))
    with pytest.raises(InvalidInputError, match="no kubeconfig") as err:
        resolve_access()
    assert "KUBECONFIG" in (err.value.hint or "")


# -- refusals before anything is applied --------------------------------------------------


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(echo_home(tmp_path), free_port())
    plane.start()
    yield plane
    plane.cleanup()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns


def test_deploying_without_a_kubeconfig_says_so_and_records_nothing(
    cp: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    done = cp.cli("deploy", "echo", "--version", "1", "--target", "kubernetes")
    assert done.returncode == 2
    assert "no kubeconfig" in done.stderr and "Traceback" not in done.stderr
    assert cp.api("GET", "deployments") == []


def unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Point KUBECONFIG at a cluster address where nothing listens; return its port."""
    port = closed_port()
    config = tmp_path / "config"
    config.write_text(kubeconfig(f"https://127.0.0.1:{port}"))
    monkeypatch.setenv("KUBECONFIG", str(config))
    return port


def test_an_unreachable_cluster_is_a_clear_error_and_nothing_is_recorded(
    cp: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = unreachable(tmp_path, monkeypatch)
    done = cp.cli("deploy", "echo", "--version", "1", "--target", "kubernetes")
    assert done.returncode == 1
    assert f"cannot reach the Kubernetes API at https://127.0.0.1:{port}" in done.stderr
    assert "context 'test'" in done.stderr and "Traceback" not in done.stderr
    assert cp.api("GET", "deployments") == []
    assert cp.events("deployment.") == []


def test_an_invalid_resource_quantity_is_refused(
    cp: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreachable(tmp_path, monkeypatch)
    done = cp.cli("deploy", "echo", "-v", "1", "--target", "kubernetes", "--cpu", "2 cores")
    assert done.returncode == 2
    assert "--cpu '2 cores' is not a Kubernetes quantity" in done.stderr


def test_cluster_options_without_the_kubernetes_target_are_refused(cp: ControlPlane) -> None:
    done = cp.cli("deploy", "echo", "--version", "1", "--namespace", "ml", "--cpu", "1")
    assert done.returncode == 2
    assert "--namespace, --cpu apply to deployments on --target kubernetes" in done.stderr
    assert cp.api("GET", "deployments") == []


def test_a_deployment_whose_cluster_is_gone_is_kept_unless_forced(
    cp: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made while its cluster answered (recorded here directly), its cluster is gone now."""
    from shipyard.clock import utc_now
    from shipyard.k8s.target import ClusterOptions, service_address
    from shipyard.store import DeploymentRecord, Desired, open_stores

    unreachable(tmp_path, monkeypatch)
    access = resolve_access()
    host, port = service_address("gone", access.namespace)
    now = utc_now()
    stores = open_stores(cp.home)
    record = DeploymentRecord(
        "gone", "echo", "kubernetes", host, port, 2, "production", 0.0,
        {"kubernetes": ClusterOptions(access).to_data()}, Desired(), None, (), 0, now, now,
    )  # fmt: skip
    stores.deploy.create_deployment(record, "test", "made while its cluster answered")
    stores.close()

    kept = cp.cli("undeploy", "gone", "--reason", "cluster decommissioned")
    assert kept.returncode == 1
    assert (
        "cannot reach the Kubernetes API" in kept.stderr
        and "the deployment was kept" in kept.stderr
    )
    assert "shipyard undeploy gone --force" in kept.stderr
    assert "gone" in [s["name"] for s in cp.api("GET", "deployments")]

    forced = cp.cli("undeploy", "gone", "--force", "--reason", "cluster decommissioned")
    assert forced.returncode == 0, forced.stderr
    assert "gone" not in [s["name"] for s in cp.api("GET", "deployments")]
    deleted = cp.events("deployment.deleted")[-1]["data"]["reason"]
    assert deleted.startswith("cluster decommissioned (--force; not stopped: cannot reach")
