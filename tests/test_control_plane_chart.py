"""The control plane on Kubernetes: its Helm chart, rendered by a real helm 4, its RBAC, and
the kubernetes target's in-cluster connection.

For several value sets ``helm template`` of the chart gives exactly the objects
``control_plane_objects()`` gives, each valid for Kubernetes 1.32; the schema and the
templates refuse bad values by name; Secrets are only referenced. The Role is checked
against what the kubernetes target really calls: the target runs a deployment's whole life
(check, canary through a Gateway, promote, observe, stop) against a recording stand-in for
the API, and the (group, resource, verb) it used must be exactly ``RBAC_RULES``.
"""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import test_helm_chart
from conftest import Result
from deploy_helpers import echo_home
from shipyard import __version__
from shipyard.errors import InvalidInputError
from shipyard.expressions.alert_rules import alert_rule
from shipyard.k8s import cluster as cluster_module
from shipyard.k8s.cluster import IN_CLUSTER, Access, Cluster, ClusterError, resolve_access
from shipyard.k8s.control_plane import (
    RBAC_RULES,
    control_plane_objects,
    values,
    write_control_plane_chart,
)
from shipyard.k8s.helm import chart_files
from shipyard.k8s.target import ClusterOptions, KubernetesTarget
from shipyard.store import DeploymentRecord, Desired, open_stores
from test_helm_chart import assert_same
from test_k8s_manifests import KUBERNETES

helm = test_helm_chart.helm  # the fixture: scripts/helm.sh's helm, fetched once

IMAGE = "registry.example/shipyard/control-plane:0.1.0"
NAMESPACE = "shipyard"
S3 = {"artifacts": {"location": "s3://team-models/shipyard"}}

# Value sets the chart must render exactly as control_plane_objects() does (over S3).
CASES: dict[str, dict[str, Any]] = {
    "s3 with keys": {
        "s3": {"existingSecret": "shipyard-s3", "endpointUrl": "https://s3.example",
               "region": "eu-west-1"},
    },
    "everything": {
        "name": "ml-control", "deployNamespace": "models",
        "image": {"tag": "", "pullPolicy": "Always"}, "imagePullSecrets": ["registry-creds"],
        "store": {"existingSecret": "pg", "key": "dsn"}, "token": {"existingSecret": "admin"},
        "postgresPassword": {"existingSecret": "pg-password"},
        "tls": {"existingSecret": "shipyard-tls"},
        "resources": {"requests": {"cpu": 1, "memory": "1Gi"},
                      "limits": {"cpu": "2", "memory": None}},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/s"}},
    },
    "a directory on a volume": {
        "artifacts": {"location": "/srv/artifacts", "existingClaim": "shipyard-artifacts"},
        "resources": {"limits": {"cpu": None, "memory": None}},
    },
}  # fmt: skip


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, as Helm merges a values file."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and key in out else value
    return out


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("control-plane") / "chart"
    write_control_plane_chart(out, IMAGE)
    return out


def template(binary: str, chart: Path, changes: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    """``helm template`` of the release ``shipyard`` with ``changes`` as a values file."""
    done = run_helm(binary, "template", "shipyard", chart, changes, tmp)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def run_helm(
    binary: str, command: str, release: str, chart: Path, changes: dict[str, Any], tmp: Path
) -> subprocess.CompletedProcess[str]:
    """``helm template`` or ``helm lint --strict`` with ``changes`` as a values file."""
    given = tmp / "given.yaml"
    given.write_text(yaml.safe_dump(changes))
    args = [binary, command, release, str(chart), "--namespace", NAMESPACE, "-f", str(given)]
    if command == "lint":
        args = [binary, "lint", "--strict", str(chart), "-f", str(given)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", list(CASES))
def test_the_chart_renders_the_objects_of_control_plane_objects(
    helm: str, chart: Path, tmp_path: Path, name: str
) -> None:
    changes = merged(S3, CASES[name])
    rendered = template(helm, chart, changes, tmp_path)
    expected = control_plane_objects(
        merged(values(IMAGE), changes), release="shipyard", namespace=NAMESPACE
    )
    assert_same(rendered, expected)
    for document in rendered:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_lint_passes_and_the_defaults_are_what_values_yaml_says(
    helm: str, chart: Path, tmp_path: Path
) -> None:
    linted = run_helm(helm, "lint", "shipyard", chart, S3, tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert yaml.safe_load((chart / "values.yaml").read_text()) == values(IMAGE)
    metadata = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert (metadata["version"], metadata["appVersion"]) == (__version__, __version__)
    assert values(IMAGE)["image"] == {
        "repository": "registry.example/shipyard/control-plane",
        "tag": "0.1.0",
        "pullPolicy": "IfNotPresent",
    }


def test_export_helm_control_plane_writes_the_chart_and_refuses_a_models_options(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = cli("export", "helm", "--control-plane", "--image", "registry.example/cp:{version}")
    assert done.code == 0, done.err
    assert "helm install shipyard deploy/control-plane" in " ".join(done.out.split())
    written = yaml.safe_load((tmp_path / "deploy" / "control-plane" / "values.yaml").read_text())
    assert written == values(f"registry.example/cp:{__version__}")
    for args, words in [
        (["echo"], "not echo"),
        (["--replicas", "3", "--canary-version", "2"], "not --replicas, --canary-version"),
    ]:
        refused = cli("export", "helm", "--control-plane", *args, "--out", "bad")
        assert refused.code == 2 and words in refused.err, refused.err
    assert not (tmp_path / "bad").exists()
    no_model = cli("export", "helm")
    assert no_model.code == 2 and "--control-plane" in no_model.err


def deployment_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Deployment")


def test_one_non_root_server_on_a_read_only_root_probed_on_its_port(
    helm: str, chart: Path, tmp_path: Path
) -> None:
    deployment = deployment_of(template(helm, chart, S3, tmp_path))
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["command"] == ["shipyard", "server", "--host", "0.0.0.0", "--port", "7700"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": "api"}
    env = {e["name"]: e for e in container["env"]}
    home = env["SHIPYARD_HOME"]["value"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts[home]] and "emptyDir" in volumes[mounts["/tmp"]]
    assert env["SHIPYARD_ARTIFACTS"]["value"] == "s3://team-models/shipyard"
    assert pod["enableServiceLinks"] is False  # no SHIPYARD_SERVER_PORT=tcp://... from a Service
    service = next(o for o in template(helm, chart, S3, tmp_path) if o["kind"] == "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["port"] == 7700


SECRET_ENV = {
    "SHIPYARD_STORE",
    "SHIPYARD_SERVER_TOKEN",
    "PGPASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}


def test_secrets_are_only_referenced_never_written(helm: str, chart: Path, tmp_path: Path) -> None:
    changes = merged(S3, CASES["everything"]) | {"s3": {"existingSecret": "shipyard-s3"}}
    done = run_helm(helm, "template", "shipyard", chart, changes, tmp_path)
    assert done.returncode == 0, done.stderr
    documents = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert "Secret" not in {d["kind"] for d in documents}
    container = deployment_of(documents)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert set(env) >= SECRET_ENV
    for name in SECRET_ENV:
        assert set(env[name]) == {"name", "valueFrom"}, name
        assert set(env[name]["valueFrom"]) == {"secretKeyRef"}, name
    assert env["SHIPYARD_STORE"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "dsn"}
    # no value of the chart can hold a secret itself: the schema has nowhere to put one
    for setting in ["token.value=s3cret", "store.url=postgresql://u:pw@db/x", "env.PGPASSWORD=pw"]:
        refused = subprocess.run(
            [helm, "template", "shipyard", str(chart), "--set", setting, "-f",
             str(tmp_path / "given.yaml")],
            capture_output=True, text=True,
        )  # fmt: skip
        assert refused.returncode != 0 and "additional properties" in refused.stderr, setting
    assert "s3cret" not in done.stdout and "password:" not in done.stdout.lower()


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        # values.schema.json
        ("resources.requests.cpu=fast", ["/resources/requests/cpu", "'fast' does not match"]),
        ("image.pullPolicy=Sometimes", ["/image/pullPolicy", "value must be one of"]),
        ("store.existingSecret=Team_Store", ["/store/existingSecret", "does not match"]),
        ("deployNamespace=Models", ["/deployNamespace", "does not match"]),
        ("tls=yes", ["/tls", "want object"]),
        ("replicas=2", ["additional properties 'replicas' not allowed"]),
        # the templates' checks
        ("artifacts.location=", ["artifacts.location is required"]),
        ("artifacts.location=artifacts", ["expected s3://BUCKET/PREFIX or an absolute directory"]),
        ("artifacts.location=/srv/artifacts", ["give artifacts.existingClaim"]),
    ],
)
def test_a_wrong_value_is_refused_by_name(
    helm: str, chart: Path, tmp_path: Path, setting: str, words: list[str]
) -> None:
    (tmp_path / "given.yaml").write_text(yaml.safe_dump(S3))
    done = subprocess.run(
        [helm, "template", "shipyard", str(chart), "-f", str(tmp_path / "given.yaml"),
         "--set", setting],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    for word in words:
        assert word in done.stderr, done.stderr
    if setting.startswith("artifacts"):  # Python refuses the same values with the same words
        key, _, value = setting.partition("=")
        chosen = merged(values(IMAGE), {"artifacts": {key.split(".")[1]: value}})
        with pytest.raises(InvalidInputError, match=words[0].replace(".", r"\.")):
            control_plane_objects(chosen, release="shipyard", namespace=NAMESPACE)


def test_the_schemas_quantities_are_the_model_charts() -> None:
    ours = json.loads(chart_files("control_plane_chart").joinpath("values.schema.json").read_text())
    model = json.loads(chart_files().joinpath("values.schema.json").read_text())
    for definition in ("quantity", "quantityOrNull"):
        assert ours["definitions"][definition] == model["definitions"][definition]


# -- RBAC: exactly what the kubernetes target calls ------------------------------------

# (apiVersion, kind) → (group, resource, namespaced), as a cluster's discovery names them.
MONITORING, GATEWAY = "monitoring.coreos.com", "gateway.networking.k8s.io"
KINDS = {
    ("v1", "Namespace"): ("", "namespaces", False),
    ("v1", "Pod"): ("", "pods", True),
    ("v1", "Service"): ("", "services", True),
    ("apps/v1", "Deployment"): ("apps", "deployments", True),
    ("policy/v1", "PodDisruptionBudget"): ("policy", "poddisruptionbudgets", True),
    ("autoscaling/v2", "HorizontalPodAutoscaler"):
        ("autoscaling", "horizontalpodautoscalers", True),
    (f"{MONITORING}/v1", "ServiceMonitor"): (MONITORING, "servicemonitors", True),
    (f"{MONITORING}/v1", "PrometheusRule"): (MONITORING, "prometheusrules", True),
    (f"{GATEWAY}/v1", "HTTPRoute"): (GATEWAY, "httproutes", True),
}  # fmt: skip


@dataclass(frozen=True)
class Kind:
    """A discovered resource, as the dynamic client has it."""

    api_version: str
    kind: str
    group: str
    name: str
    namespaced: bool


def _matches(labels: dict[str, str], selector: str) -> bool:
    """The two label selector forms the target uses: ``k=v,...`` and ``k in (a,b)``."""
    if " in (" in selector:
        key, _, rest = selector.partition(" in (")
        return labels.get(key) in rest.rstrip(")").split(",")
    return all(labels.get(k) == v for k, _, v in (p.partition("=") for p in selector.split(",")))


class RecordingApi:
    """A stand-in for the Kubernetes dynamic client that keeps the objects applied and
    records each call as the request an API server authorizes: (group, resource, verb).
    Deployments roll out at once; a server-side apply of a new object is also a create."""

    def __init__(self) -> None:
        self.calls: set[tuple[str, str, str]] = set()
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.resources = self

    def get(self, resource: Any = None, name: str | None = None, **kw: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        if resource is None:  # discovery: resources.get(api_version=, kind=)
            key = (kw["api_version"], kw["kind"])
            if key not in KINDS:
                raise ResourceNotFoundError(f"no {key}")
            return Kind(*key, *KINDS[key])
        self.calls.add((resource.group, resource.name, "get" if name else "list"))
        if resource.kind == "Namespace":
            return {"metadata": {"name": name}}
        if name is None:
            found = [o for (k, _), o in self.objects.items() if k == resource.kind]
            selector = kw["label_selector"]
            return {"items": [o for o in found if _matches(o["metadata"]["labels"], selector)]}
        if (resource.kind, name) not in self.objects:
            raise NotFoundError(ApiException(status=404, reason="Not Found"))
        return self.objects[(resource.kind, name)]

    def server_side_apply(self, resource: Any, body: dict[str, Any], **kw: Any) -> Any:
        key = (resource.kind, body["metadata"]["name"])
        self.calls.add((resource.group, resource.name, "patch"))
        if key not in self.objects:
            self.calls.add((resource.group, resource.name, "create"))
        if kw.get("dry_run"):
            return body
        stored = json.loads(json.dumps(body))
        stored["metadata"]["managedFields"] = [{"manager": kw["field_manager"]}]
        if resource.kind == "Deployment":
            pods = stored["spec"]["replicas"]
            stored["metadata"]["generation"] = 1
            stored["status"] = {"observedGeneration": 1, "replicas": pods,
                                "updatedReplicas": pods, "availableReplicas": pods}  # fmt: skip
        self.objects[key] = stored
        return stored

    def delete(self, resource: Any, name: str, **kw: Any) -> Any:
        self.calls.add((resource.group, resource.name, "delete"))
        return self.objects.pop((resource.kind, name), None)


def recording_cluster(access: Access, api: RecordingApi) -> Cluster:
    """A Cluster whose requests go to ``api`` (everything above the client is the real one)."""
    cluster = Cluster.__new__(Cluster)
    cluster.access, cluster.namespace, cluster.timeout = access, access.namespace, 5.0
    cluster.server, cluster._dynamic, cluster._kinds = "https://recorded", api, {}
    return cluster


def record(name: str, access: Access, weights: dict[str, int], stable: int) -> DeploymentRecord:
    options = {"kubernetes": ClusterOptions(access, "shipyard/{model}:{version}",
                                            gateway="gateways/public").to_data()}  # fmt: skip
    return DeploymentRecord(
        name=name, model="echo", target="kubernetes", host=f"{name}.models.svc", port=80,
        replicas=4, alias="production", rollback_window=0.0, options=options,
        desired=Desired(weights), stable=stable, history=(stable,), generation=1,
        created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z",
    )  # fmt: skip


def test_the_role_allows_exactly_what_the_kubernetes_target_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = open_stores(echo_home(tmp_path))
    access = Access("", IN_CLUSTER, "models")
    api = RecordingApi()
    target = KubernetesTarget(stores, "tester")
    target._clusters[access] = recording_cluster(access, api)
    rules = [alert_rule("HighErrorRate", "error_rate > 0.02", for_=120)]
    monkeypatch.setattr(target, "_rules", lambda record: rules)  # the monitor's alert rules
    try:
        first = record("echo", access, {"1": 100}, 1)
        target.check(first, Desired({"1": 100}))
        target.apply(first, Desired({"1": 100}))
        canary = record("echo", access, {"1": 75, "2": 25}, 1)
        target.apply(canary, canary.desired)  # two tracks, a route with weights
        target.load(canary, "3")  # a preview pod for a version about to get traffic
        done = record("echo", access, {"2": 100}, 2)
        target.apply(done, done.desired)  # the canary's Deployment and Service pruned
        assert target.observe(done).running
        target.stop(done, "test")
    finally:
        stores.close()
    assert not api.objects  # stop leaves nothing behind
    granted = {(r.group, res, verb) for r in RBAC_RULES for res in r.resources for verb in r.verbs}
    assert api.calls == granted  # every call is granted, and every grant is called


def test_the_role_has_no_wildcard_and_no_right_beyond_its_namespace(
    helm: str, chart: Path, tmp_path: Path
) -> None:
    changes = merged(S3, {"deployNamespace": "models"})
    documents = template(helm, chart, changes, tmp_path)
    role = next(d for d in documents if d["kind"] == "Role")
    binding = next(d for d in documents if d["kind"] == "RoleBinding")
    assert "ClusterRole" not in {d["kind"] for d in documents}
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "models"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "shipyard", "namespace": NAMESPACE}
    ]
    namespaced = {(g, r): n for g, r, n in KINDS.values()}
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert not any("*" in value for value in rule[field]), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                if not namespaced[(group, resource)]:  # only the namespace's own object
                    assert rule["resourceNames"] == ["models"] and rule["verbs"] == ["get"]


# -- the kubernetes target in a pod --------------------------------------------------------


@pytest.fixture
def pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process as if in a pod of namespace ``team``: a ServiceAccount's files, the
    API's address in the environment, and no kubeconfig."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token")
    (account / "namespace").write_text("team\n")
    monkeypatch.setattr(cluster_module, "SERVICE_ACCOUNT", account)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    return account


def test_in_a_pod_without_a_kubeconfig_the_target_uses_the_pods_cluster(pod: Path) -> None:
    assert resolve_access() == Access("", IN_CLUSTER, "team")
    assert resolve_access(namespace="models") == Access("", IN_CLUSTER, "models")
    assert resolve_access(context=IN_CLUSTER) == Access("", IN_CLUSTER, "team")
    with pytest.raises(InvalidInputError, match="no kubeconfig"):
        resolve_access(context="prod")  # a context named is a kubeconfig's, never the pod's


def test_in_cluster_outside_a_pod_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # the tests may run in a pod
    monkeypatch.setattr(cluster_module, "SERVICE_ACCOUNT", tmp_path / "no-serviceaccount")
    assert resolve_access(context=IN_CLUSTER, namespace="models").namespace == "models"
    with pytest.raises(InvalidInputError, match="outside a pod needs --namespace"):
        resolve_access(context=IN_CLUSTER)
    with pytest.raises(InvalidInputError, match="does not run in a pod") as err:
        Cluster(Access("", IN_CLUSTER, "models"))
    assert "export helm --control-plane" in (err.value.hint or "")


def test_a_laptops_kubeconfig_sent_to_a_control_plane_in_a_pod_is_refused(pod: Path) -> None:
    with pytest.raises(InvalidInputError, match="not on the control plane") as err:
        Cluster(Access("/home/dev/.kube/config", "prod", "models"))
    assert f"--context {IN_CLUSTER}" in (err.value.hint or "")


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[dict[str, str]]]]:
    """An HTTPS server on loopback with a certificate of its own; yields its port, the CA
    file that verifies it and the headers of each request (each answered 503)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
         "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert, seen
    finally:
        server.shutdown()
        server.server_close()


def test_in_cluster_the_client_sends_the_pods_token_over_tls_it_verifies(
    pod: Path, api_server: tuple[int, Path, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert, seen = api_server
    (pod / "ca.crt").write_bytes(cert.read_bytes())
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
    with pytest.raises(ClusterError, match=f"https://127.0.0.1:{port}.*'in-cluster'"):
        Cluster(resolve_access(), timeout=5)  # discovery's first request answered 503
    assert seen[0]["path"] == "/version"  # discovery: the default system:discovery role's
    scheme, token = seen[0]["authorization"].split()
    assert (scheme.lower(), token) == ("bearer", "pod-token")
