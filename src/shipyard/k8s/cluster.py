"""A connection to one Kubernetes cluster, through its API and the official Python client.

Where to connect follows kubectl's rules: ``KUBECONFIG`` (a ``:``-separated list)
or ``~/.kube/config``; the context given, else the file's current context; the
namespace given, else the context's, else ``default``. ``Access`` pins those choices
when a deployment is created, so a later ``kubectl config use-context`` never
redirects a running deployment.

A control plane that runs in a pod (``shipyard export helm --control-plane``) reaches
its own cluster as its ServiceAccount: the context ``in-cluster`` (:data:`IN_CLUSTER`)
names that, and is what a command in a pod without a kubeconfig gets; the namespace is
then the one given, else the pod's own.

Objects are written by server-side apply with Shipyard's field manager, so fields
other tools own (an autoscaler's replicas, a mesh's annotations) are left alone, and
a dry run of the whole set on the server comes first: a refused object leaves
nothing half-applied. API errors come back as Shipyard errors that say what the
cluster refused and why.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInputError, NotFoundError, ShipyardError

FIELD_MANAGER = "shipyard"
ABSENT_FOR = 30.0  # seconds a kind the cluster did not serve is taken as still absent
# Older clusters serve these kinds only under an older group version of the same shape.
FALLBACKS = {
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "autoscaling/v2beta2",
    ("policy/v1", "PodDisruptionBudget"): "policy/v1beta1",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "gateway.networking.k8s.io/v1beta1",
}
# Applied first: what other objects point at.
ORDER = ("Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler")
IN_CLUSTER = "in-cluster"  # the context of a pod's own cluster, through its ServiceAccount
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")  # token, ca.crt, namespace


class ClusterError(ShipyardError):
    """The cluster could not be reached, or refused what was asked."""


FORBIDDEN_HINT = (
    "the cluster's RBAC does not grant this identity that call; the control plane's chart "
    "grants it in one namespace only (its deployNamespace): deploy there, or install the chart "
    "once more for this namespace"
)


@dataclass(frozen=True, slots=True)
class Access:
    """Where a deployment lives: kubeconfig file(s), context and namespace."""

    kubeconfig: str
    context: str
    namespace: str

    def to_data(self) -> dict[str, str]:
        """For the deployment's options."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Access:
        """As ``to_data`` wrote it."""
        return cls(str(data["kubeconfig"]), str(data["context"]), str(data["namespace"]))


def _kubeconfig_paths(given: str | None) -> list[Path]:
    text = given or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return [Path(p).expanduser().resolve() for p in text.split(os.pathsep) if p]


def in_pod() -> bool:
    """Whether this process runs in a Kubernetes pod with a ServiceAccount token."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").is_file()


def _in_cluster_access(namespace: str | None) -> Access:
    """The pod's own cluster: the namespace given, else the pod's."""
    if not namespace and in_pod():
        namespace = (SERVICE_ACCOUNT / "namespace").read_text().strip() or None
    if not namespace:
        raise InvalidInputError(
            f"context {IN_CLUSTER!r} outside a pod needs --namespace",
            hint="name the namespace the control plane's Role is in (its chart's "
            "deployNamespace, else its release's)",
        )
    return Access("", IN_CLUSTER, namespace)


def resolve_access(
    kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None
) -> Access:
    """kubectl's rules for file, context and namespace; a clear error if there is none.
    ``in-cluster``, or no kubeconfig in a pod: the pod's own cluster."""
    import yaml

    if context == IN_CLUSTER:
        return _in_cluster_access(namespace)
    paths = _kubeconfig_paths(kubeconfig)
    found = [p for p in paths if p.is_file()]
    if not found and kubeconfig is None and context is None and in_pod():
        return _in_cluster_access(namespace)
    if not found:
        raise InvalidInputError(
            f"no kubeconfig: {', '.join(map(str, paths))} does not exist",
            hint="point KUBECONFIG (or --kubeconfig) at your cluster's config, "
            "e.g. the file your cloud's `get-credentials` command writes",
        )
    contexts: dict[str, dict[str, Any]] = {}
    current = None
    for path in found:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InvalidInputError(f"kubeconfig {path} cannot be read: {err}") from None
        if not isinstance(data, dict):
            raise InvalidInputError(f"kubeconfig {path}: expected a mapping at the top")
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and "name" in entry:
                contexts.setdefault(str(entry["name"]), entry.get("context") or {})
        current = current or data.get("current-context")
    chosen = context or current
    if not chosen:
        raise InvalidInputError(
            f"kubeconfig {found[0]} sets no current context",
            hint="give one with --context, or `kubectl config use-context NAME`",
        )
    if chosen not in contexts:
        raise InvalidInputError(
            f"context {chosen!r} is not in {', '.join(map(str, found))}",
            hint=f"known contexts: {', '.join(sorted(contexts)) or 'none'}",
        )
    namespace = namespace or contexts[chosen].get("namespace") or "default"
    return Access(os.pathsep.join(map(str, found)), chosen, str(namespace))


def _client_library() -> Any:
    try:
        import kubernetes
    except ImportError:
        raise ShipyardError(
            "the kubernetes target needs the Kubernetes Python client",
            hint="pip install 'shipyard[kubernetes]'",
        ) from None
    return kubernetes


class Cluster:
    """One context's API server, for one namespace."""

    def __init__(self, access: Access, timeout: float = 15.0) -> None:
        kubernetes = _client_library()
        from kubernetes.dynamic import DynamicClient

        self.access = access
        self.namespace = access.namespace
        self.timeout = timeout
        api = _api_client(kubernetes, access)
        self.server = api.configuration.host
        api.configuration.retries = 1
        # the client's default discovery cache is one world-readable file per host in /tmp
        cache = Path(tempfile.mkdtemp(prefix="shipyard-k8s-")) / "discovery.json"
        try:
            self._dynamic = DynamicClient(api, cache_file=str(cache))
        except Exception as err:  # discovery: the first request, answered or not
            raise self._unreachable(err) from None
        self._kinds: dict[tuple[str, str], tuple[Any, float | None]] = {}  # resource, asked at

    def _unreachable(self, err: Exception) -> ClusterError:
        reason = getattr(err, "reason", None) or str(err).splitlines()[0][:200]
        return ClusterError(
            f"cannot reach the Kubernetes API at {self.server} "
            f"(context {self.access.context!r}): {reason}",
            hint="check the cluster is up and `kubectl --context "
            f"{self.access.context} get namespaces` works from here",
        )

    # -- discovery -------------------------------------------------------------------

    def kind(self, api_version: str, kind: str, fresh: bool = False) -> Any | None:
        """The API resource for a kind, or None if the cluster does not serve it
        (``fresh``: ask again even if it did not a moment ago)."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        key = (api_version, kind)
        found, when = self._kinds.get(key, (None, None))
        if found is None and (fresh or when is None or time.monotonic() - when > ABSENT_FOR):
            try:
                found = self._dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                found = None  # asked again later: CRDs get installed
            except Exception as err:
                raise self._unreachable(err) from None
            self._kinds[key] = (found, time.monotonic())
        return found

    def serves(self, api_version: str, kind: str, fresh: bool = False) -> bool:
        """The cluster has this kind (for the Prometheus Operator's and Gateway API's CRDs)."""
        return self.kind(api_version, kind, fresh) is not None

    def served_api_version(self, api_version: str, kind: str, fresh: bool = False) -> str | None:
        """The group version under which this cluster serves ``kind`` (an older one of the
        same shape on older clusters), or None."""
        if self.serves(api_version, kind, fresh):
            return api_version
        older = FALLBACKS.get((api_version, kind))
        return older if older and self.serves(older, kind, fresh) else None

    def served_version(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` under a group version this cluster serves."""
        served = self.served_api_version(obj["apiVersion"], obj["kind"])
        if served is None:
            raise ClusterError(
                f"the cluster at {self.server} does not serve {obj['kind']} ({obj['apiVersion']})",
                hint="Shipyard needs Kubernetes 1.20 or newer",
            )
        return obj if served == obj["apiVersion"] else {**obj, "apiVersion": served}

    def check_namespace(self) -> None:
        """The namespace exists, or a clear error (nothing is created in a wrong one)."""
        try:
            self._call(self.kind("v1", "Namespace"), "get", name=self.namespace)
        except NotFoundError:
            raise InvalidInputError(
                f"namespace {self.namespace!r} does not exist in context {self.access.context!r}",
                hint=f"create it (`kubectl create namespace {self.namespace}`) or give "
                "another with --namespace",
            ) from None

    # -- reading and writing -----------------------------------------------------------

    def _call(self, resource: Any, verb: str, **kwargs: Any) -> Any:
        from kubernetes.dynamic.exceptions import DynamicApiError
        from kubernetes.dynamic.exceptions import NotFoundError as Missing

        if resource.namespaced and verb != "server_side_apply":
            kwargs.setdefault("namespace", self.namespace)
        try:
            result = getattr(self._dynamic, verb)(resource, _request_timeout=self.timeout, **kwargs)
        except Missing:
            raise NotFoundError(f"{resource.kind} {kwargs.get('name', '')} not found") from None
        except DynamicApiError as err:
            hint = FORBIDDEN_HINT if getattr(err, "status", None) == 403 else None
            raise ClusterError(_refusal(resource.kind, err), hint=hint) from None
        except Exception as err:  # transport: refused, timed out, TLS
            raise self._unreachable(err) from None
        return result.to_dict() if hasattr(result, "to_dict") else result

    def apply(self, objects: list[dict[str, Any]], *, dry_run: bool = False) -> None:
        """Server-side apply of every object, in dependency order (``dry_run``: checked by
        the server, nothing stored)."""
        extra = {"dry_run": "All"} if dry_run else {}
        for obj in sorted(objects, key=_rank):
            obj = self.served_version(obj)
            resource = self.kind(obj["apiVersion"], obj["kind"])
            assert resource is not None  # served_version checked it
            namespace = self.namespace if resource.namespaced else None
            body = {**obj, "metadata": {**obj["metadata"]}}
            if namespace:
                body["metadata"]["namespace"] = namespace
            self._call(
                resource,
                "server_side_apply",
                body=body,
                namespace=namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                **extra,
            )

    def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        """One object, or None."""
        resource = self.kind(api_version, kind)
        if resource is None:
            return None
        try:
            found: dict[str, Any] = self._call(resource, "get", name=name)
        except NotFoundError:
            return None
        return found

    def list(self, api_version: str, kind: str, selector: str) -> list[dict[str, Any]]:
        """Objects of a kind in the namespace that match a label selector."""
        resource = self.kind(api_version, kind)
        if resource is None:
            return []
        found = self._call(resource, "get", label_selector=selector)
        return list(found.get("items") or [])

    def delete(self, api_version: str, kind: str, name: str) -> bool:
        """Delete an object (its pods go too); False if it was not there."""
        resource = self.kind(api_version, kind)
        if resource is None:
            return False
        try:
            # a Deployment's pods go before it does; other kinds have nothing to wait for
            policy = "Foreground" if kind == "Deployment" else "Background"
            self._call(resource, "delete", name=name, propagation_policy=policy)
        except NotFoundError:
            return False
        return True


def _api_client(kubernetes: Any, access: Access) -> Any:
    """The client for ``access``: its kubeconfig context, or the pod's ServiceAccount."""
    if access.context == IN_CLUSTER:
        if not in_pod():
            raise InvalidInputError(
                f"context {IN_CLUSTER!r} is a pod's own cluster, and this control plane "
                "does not run in a pod",
                hint="deploy with a kubeconfig context (--context), or run the control plane "
                "in the cluster (`shipyard export helm --control-plane`)",
            )
        from kubernetes.config.incluster_config import InClusterConfigLoader

        configuration = kubernetes.client.Configuration()
        try:  # the token is read again each minute: a projected token rotates
            InClusterConfigLoader(
                str(SERVICE_ACCOUNT / "token"), str(SERVICE_ACCOUNT / "ca.crt")
            ).load_and_set(configuration)
        except kubernetes.config.ConfigException as err:
            raise InvalidInputError(f"context {IN_CLUSTER!r}: {err}") from None
        return kubernetes.client.ApiClient(configuration)
    missing = [p for p in access.kubeconfig.split(os.pathsep) if p and not Path(p).is_file()]
    if missing and in_pod():  # a kubeconfig of the machine that asked, not of this pod
        raise InvalidInputError(
            f"kubeconfig {', '.join(missing)} is not on the control plane, which runs in a "
            "pod and reaches only its own cluster",
            hint=f"deploy with --context {IN_CLUSTER} --namespace NAMESPACE",
        )
    try:
        return kubernetes.config.new_client_from_config(
            config_file=access.kubeconfig, context=access.context
        )
    except (kubernetes.config.ConfigException, OSError, ValueError) as err:
        raise InvalidInputError(f"kubeconfig context {access.context!r}: {err}") from None


def _rank(obj: dict[str, Any]) -> int:
    kind = obj["kind"]
    return ORDER.index(kind) if kind in ORDER else len(ORDER)


def _refusal(kind: str, err: Any) -> str:
    """The API server's own words for a refusal (its Status message)."""
    import json

    message = ""
    try:
        message = json.loads(err.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        message = str(getattr(err, "summary", lambda: err)())
    return f"the cluster refused {kind}: {message or err.status}"
