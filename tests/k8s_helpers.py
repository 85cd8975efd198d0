"""A real Kubernetes control plane on loopback, for ``make test-k8s``.

etcd (Debian's) and kube-apiserver and kube-controller-manager built from Debian's
``kubernetes`` source package (``scripts/k8s-binaries.sh``, cached outside the
repository) run on free ports. The API server authorizes by RBAC, as a cluster does; the
tests' own token is an admin's (``system:masters``), and an identity of less privilege,
a ServiceAccount, is reached through ``service_account_kubeconfig``. The controller manager
turns Deployments into ReplicaSets and pods and reports rollout status, as in any
cluster. There is no kubelet here, so ``KubeletStandIn`` plays its part for pod
status only: it marks each new pod Running and Ready, or, for images it is told
cannot be pulled, leaves the container waiting in ``ImagePullBackOff`` as a kubelet
would. No container runs.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from test_serving import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "shipyard-test-token"
ACCOUNT_ANNOTATION = "kubernetes.io/service-account.name"


def k8s_binaries() -> Path:
    """The directory of kube-apiserver and kube-controller-manager (built once, cached)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "k8s-binaries.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"scripts/k8s-binaries.sh failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _wait(check: Any, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready in {seconds:.0f} s")


@dataclass
class ApiServer:
    """etcd, kube-apiserver and kube-controller-manager under ``root``."""

    root: Path
    port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def start(self) -> None:
        binaries = k8s_binaries()
        self.root.mkdir(parents=True, exist_ok=True)
        key, pub = self.root / "sa.key", self.root / "sa.pub"
        subprocess.run(
            ["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)],
            check=True,
            capture_output=True,
        )
        (self.root / "tokens.csv").write_text(f'{TOKEN},admin,admin,"system:masters"\n')
        etcd_port, peer_port = free_port(), free_port()
        self._run(
            "etcd",
            [
                "etcd",
                "--data-dir", str(self.root / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            ],
        )  # fmt: skip
        self.port = free_port()
        self._run(
            "kube-apiserver",
            [
                str(binaries / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                "--insecure-port=0",
                f"--token-auth-file={self.root / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={pub}",
                f"--service-account-signing-key-file={key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--cert-dir={self.root / 'certs'}",
                "--service-cluster-ip-range=10.96.0.0/16",
            ],
        )
        self.kubeconfig.write_text(kubeconfig(f"https://127.0.0.1:{self.port}"))
        _wait(lambda: self.kubectl("get", "namespace", "default").returncode == 0, "kube-apiserver")
        self._run(
            "kube-controller-manager",
            [
                str(binaries / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--port=0",
                "--secure-port=0",
                "--controllers=deployment,replicaset,horizontalpodautoscaling,garbagecollector,"
                "disruption,endpoint,namespace,serviceaccount,serviceaccount-token",
                f"--service-account-private-key-file={key}",
            ],
        )
        _wait(
            lambda: self.kubectl("get", "serviceaccount", "default").returncode == 0,
            "kube-controller-manager",
        )

    def _run(self, name: str, command: list[str]) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        time.sleep(0.3)
        if self.procs[-1].poll() is not None:
            raise AssertionError(
                f"{name} exited: {(self.root / f'{name}.log').read_text()[-2000:]}"
            )

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def __enter__(self) -> ApiServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def install_crds(self, crds: list[str]) -> None:
        """Apply CustomResourceDefinitions (``crd``'s) and wait until each is served."""
        path = self.root / f"crds-{len(list(self.root.glob('crds-*')))}.yaml"
        path.write_text("---\n".join(crds))
        applied = self.kubectl("apply", "-f", str(path))
        assert applied.returncode == 0, applied.stderr
        names = [f"crd/{yaml.safe_load(c)['metadata']['name']}" for c in crds]
        assert self.kubectl("wait", "--for=condition=Established", *names).returncode == 0

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig that acts as ServiceAccount ``namespace/name``, with the token its
        controller issues, as a pod of that account holds it."""
        token = ""

        def issued() -> bool:
            nonlocal token
            done = self.kubectl(
                "get", "secrets", "-n", namespace, "--field-selector",
                "type=kubernetes.io/service-account-token", "-o", "json",
            )  # fmt: skip
            for secret in json.loads(done.stdout or '{"items": []}')["items"]:
                if secret["metadata"]["annotations"].get(ACCOUNT_ANNOTATION) == name:
                    token = base64.b64decode(secret["data"]["token"]).decode()
            return bool(token)

        _wait(issued, f"the token of ServiceAccount {namespace}/{name}")
        path = self.root / f"kubeconfig-{namespace}-{name}"
        path.write_text(kubeconfig(f"https://127.0.0.1:{self.port}", token=token))
        return path

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def kubeconfig(server: str, namespace: str | None = None, token: str = TOKEN) -> str:
    """A kubeconfig with one context, ``test``, for ``server``, as the holder of ``token``."""
    context = f"{{cluster: test, user: admin{f', namespace: {namespace}' if namespace else ''}}}"
    return f"""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {server}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: {token}
contexts:
- name: test
  context: {context}
current-context: test
"""


def crd(group: str, version: str, kind: str, plural: str) -> str:
    """A CustomResourceDefinition that stands in for a project's own, which cannot be
    downloaded here: its schema keeps any field, so the API server stores what Shipyard
    writes unchecked."""
    # a k8s.io group: the API server wants the approval the real CRDs carry
    approval = "https://github.com/kubernetes-sigs/gateway-api/pull/1538"
    annotations = f"{{api-approved.kubernetes.io: '{approval}'}}" if "k8s.io" in group else "{}"
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
  annotations: {annotations}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: {plural}, singular: {kind.lower()}, kind: {kind}, listKind: {kind}List}}
  versions:
  - name: {version}
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


class KubeletStandIn:
    """Plays a kubelet's part in pod status: new pods become Running and Ready, unless
    their image is in ``unpullable``, when the container waits in ImagePullBackOff."""

    def __init__(self, kubeconfig_path: Path) -> None:
        from kubernetes import client, config

        self.api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig_path)))
        self.unpullable: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> KubeletStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for pod in self.api.list_pod_for_all_namespaces().items:
                    self._tend(pod)
            except Exception as err:  # the API server going away at the end of the module
                if not self._stop.is_set():
                    print(f"kubelet stand-in: {err}")
            self._stop.wait(0.2)

    def _tend(self, pod: Any) -> None:
        if pod.metadata.deletion_timestamp is not None:
            # no kubelet confirms the end: finish the deletion it would have confirmed
            self.api.delete_namespaced_pod(
                pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
            )
            return
        if pod.status.phase not in (None, "Pending"):
            return
        container = pod.spec.containers[0]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if container.image in self.unpullable:
            if pod.status.container_statuses:
                return
            status: dict[str, Any] = {
                "containerStatuses": [
                    {
                        "name": container.name,
                        "image": container.image,
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": f'Back-off pulling image "{container.image}"',
                            }
                        },
                    }
                ]
            }
        else:
            status = {
                "phase": "Running",
                "podIP": "10.0.0.1",
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": now}
                    for t in ("Initialized", "ContainersReady", "Ready", "PodScheduled")
                ],
                "containerStatuses": [
                    {
                        "name": container.name,
                        "image": container.image,
                        "imageID": f"stand-in://{container.image}",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": now}},
                    }
                ],
            }
        self.api.patch_namespaced_pod_status(
            pod.metadata.name, pod.metadata.namespace, {"status": status}
        )


def environment(home: Path, kubeconfig_path: Path) -> dict[str, str]:
    """The CLI's environment for a test: its home and the test cluster's kubeconfig."""
    return {**os.environ, "SHIPYARD_HOME": str(home), "KUBECONFIG": str(kubeconfig_path)}
