"""The kubernetes target: a deployment is Deployments and a Service in a cluster.

The engine's desired state (versions and their traffic weights) becomes the
objects of ``k8s.manifests``: the stable version's Deployment and, while a canary
runs, a canary Deployment beside it, its share of traffic its share of the pods.
They are written by server-side apply and followed as ``kubectl rollout status``
would, up to the deployment's rollout timeout; a rollout that cannot finish is
reported with the pods' own reason (an image that cannot be pulled, a crash),
and the engine takes traffic back to what worked. Kubernetes keeps old pods until
new ones are ready (``maxUnavailable: 0``), so the old version serves meanwhile.
A rollback re-applies the previous version's objects.

The cluster does what a local server's workers do (restarts, probes), so ``probe``
and ``kill`` have nothing to do; traffic metrics come from the team's Prometheus.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.images import DEFAULT_TAG
from shipyard.k8s import manifests
from shipyard.k8s.cluster import FIELD_MANAGER, Access, Cluster
from shipyard.k8s.progress import deployment_progress, pod_problem, stuck
from shipyard.store import DeploymentRecord, Desired, Stores
from shipyard.targets.contract import (
    Asked,
    LoadFailed,
    Observed,
    Placement,
    TargetError,
    check_replicas,
)
from shipyard.targets.local_process import check_options

OPERATOR = "monitoring.coreos.com/v1"
GATEWAY_API = "gateway.networking.k8s.io/v1"
RECHECK = 30.0  # seconds an applied, finished state is trusted before it is looked at again
POLL = 1.0
STUCK_FOR = 30.0  # seconds pods may wait for a reason waiting will not clear (a bad image)
STRATEGIES = ("rolling", "canary")  # Kubernetes rolls pods itself; shadow needs in-process routes
MOST_PODS = 1000


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """A kubernetes deployment's settings, kept in its options under ``kubernetes``."""

    access: Access
    image: str = DEFAULT_TAG  # as `shipyard image build` tags it
    cpu: str = "500m"
    memory: str = "1Gi"
    max_replicas: int = 6
    timeout: float = 300.0  # seconds a rollout may take to become ready
    gateway: str | None = None  # a Gateway API Gateway: exact weights by an HTTPRoute

    def to_data(self) -> dict[str, Any]:
        """As stored in the deployment's options."""
        return {
            "access": self.access.to_data(),
            "image": self.image,
            "cpu": self.cpu,
            "memory": self.memory,
            "max_replicas": self.max_replicas,
            "timeout": self.timeout,
            "gateway": self.gateway,
        }

    @classmethod
    def from_data(cls, data: Any) -> ClusterOptions:
        """Checked settings from their stored (or posted) form."""
        if not isinstance(data, dict) or not isinstance(data.get("access"), dict):
            raise InvalidInputError(
                "deployment option 'kubernetes': expected a mapping with 'access' "
                "(kubeconfig, context, namespace)"
            )
        try:
            options = cls(
                Access.from_data(data["access"]),
                str(data.get("image", DEFAULT_TAG)),
                str(data.get("cpu", "500m")),
                str(data.get("memory", "1Gi")),
                int(data.get("max_replicas", 6)),
                float(data.get("timeout", 300.0)),
                None if data.get("gateway") is None else str(data["gateway"]),
            )
            manifests.check_quantity(options.cpu, "cpu")
            manifests.check_quantity(options.memory, "memory")
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInputError(f"deployment option 'kubernetes': {err}") from None
        if options.timeout <= 0:
            raise InvalidInputError("--rollout-timeout must be more than 0 s")
        return options


def _digest(objects: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()


class KubernetesTarget:
    """Runs deployments as objects in the clusters their options name."""

    strategies: tuple[str, ...] = STRATEGIES
    analysis_reads_prometheus = True  # pods are scraped by the monitor's Prometheus

    def __init__(self, stores: Stores, actor: str) -> None:
        self.stores = stores
        self.actor = actor
        self._clusters: dict[Access, Cluster] = {}
        self._applied: dict[str, tuple[str, float, Observed]] = {}  # name → digest, when, seen
        self._guard = threading.Lock()

    def cluster(self, record: DeploymentRecord) -> Cluster:
        """The deployment's cluster connection (made once per context and namespace)."""
        access = options_of(record).access
        with self._guard:
            if access not in self._clusters:
                self._clusters[access] = Cluster(access)
            return self._clusters[access]

    # -- placement ---------------------------------------------------------------------

    def place(self, name: str, asked: Asked, taken: dict[int, str]) -> Placement:
        """The Service's address in the deployment's namespace, 2 pods unless given; no
        warm versions (a rollback re-applies the previous version's objects)."""
        options = check_options(dict(asked.options))
        settings = ClusterOptions.from_data(options.get("kubernetes"))
        host, port = service_address(name, settings.access.namespace)
        replicas = check_replicas(
            2 if asked.replicas is None else asked.replicas, MOST_PODS, "pods"
        )
        return Placement(host, port, replicas, 0.0, options)

    def update(self, record: DeploymentRecord, asked: Asked) -> tuple[Placement, bool]:
        """New pod settings on the same cluster: its context and namespace stay."""
        given = dict(asked.options.get("kubernetes") or {})
        here = record.options["kubernetes"]["access"]
        if given.get("access") not in (None, here):
            raise InvalidInputError(
                f"deployment {record.name!r} lives in namespace {here['namespace']!r} of "
                f"context {here['context']!r}; its context and namespace cannot change",
                hint="leave out --context and --namespace, or give another name with --name",
            )
        merged = {
            **record.options["kubernetes"],
            **{k: v for k, v in given.items() if k != "access"},
        }
        options = check_options({**record.options, **asked.options, "kubernetes": merged})
        ClusterOptions.from_data(merged)
        replicas = record.replicas if asked.replicas is None else asked.replicas
        check_replicas(replicas, MOST_PODS, "pods")
        changed = merged != record.options["kubernetes"] or replicas != record.replicas
        placed = Placement(record.host, record.port, replicas, record.rollback_window, options)
        return placed, changed

    # -- rendering -------------------------------------------------------------------

    def render(self, record: DeploymentRecord, desired: Desired) -> list[dict[str, Any]]:
        """The objects that make the cluster serve ``desired``: the version with traffic
        that is the deployment's stable one (else the larger share) as the stable track, the
        other as the canary."""
        weights = {v: w for v, w in desired.weights.items() if w > 0}
        if not weights:
            return []
        starting = [v for v, w in desired.weights.items() if w == 0]
        if desired.shadow:
            raise InvalidInputError("shadow traffic needs the local target")
        stable = str(record.stable) if str(record.stable) in weights else None
        stable = stable or max(weights, key=lambda v: (weights[v], int(v)))
        others = [v for v in weights if v != stable]
        if len(others) > 1:
            raise InvalidInputError(
                f"{record.name}: Kubernetes splits traffic between two versions at most; "
                f"asked for {', '.join(f'v{v}' for v in sorted(weights, key=int))}"
            )
        opts = options_of(record)
        settings = manifests.Settings(
            record.name,
            opts.image,
            None,  # the namespace is the access's, set when applied
            record.replicas,
            max(opts.max_replicas, record.replicas),
            opts.cpu,
            opts.memory,
        )
        version = self.stores.metadata.get_version(record.model, int(stable))
        canary = None
        if others:
            other = self.stores.metadata.get_version(record.model, int(others[0]))
            canary = (other, min(99, weights[others[0]]))
        cluster = self.cluster(record)
        operator = cluster.serves(OPERATOR, "ServiceMonitor")
        objects = manifests.objects(
            settings, version, canary=canary, rules=self._rules(record), operator=operator
        )
        if opts.gateway:  # exact weights: a route over one Service per track
            tracks = {"stable": weights[stable]}
            if others:
                tracks["canary"] = weights[others[0]]
            objects += [manifests.track_service(settings, track) for track in tracks]
            objects.append(manifests.http_route(settings, opts.gateway, tracks))
        for number in starting[:1]:  # proven to start before traffic moves to it
            started = self.stores.metadata.get_version(record.model, int(number))
            objects.append(manifests.preview(settings, started))
        return objects

    def _rules(self, record: DeploymentRecord) -> list[Any]:
        from shipyard.spec.monitor_config import monitor_config

        stored = self.stores.alerts.get_monitor(record.name)
        return [] if stored is None else list(monitor_config(stored).rules)

    # -- the contract ----------------------------------------------------------------

    def check(self, record: DeploymentRecord, desired: Desired) -> None:
        """The cluster answers, the namespace exists and accepts every object in a dry run."""
        cluster = self.cluster(record)
        cluster.check_namespace()
        gateway = options_of(record).gateway
        if gateway and not cluster.served_api_version(GATEWAY_API, "HTTPRoute", fresh=True):
            raise InvalidInputError(
                f"--gateway: the cluster at {cluster.server} has no Gateway API (HTTPRoute)",
                hint="install the Gateway API CRDs and a controller, or leave out --gateway to "
                "split traffic by pods",
            )
        found = cluster.get("apps/v1", "Deployment", record.name)
        managers = {
            m.get("manager") for m in (found or {}).get("metadata", {}).get("managedFields") or []
        }
        if found is not None and FIELD_MANAGER not in managers:
            raise InvalidInputError(
                f"a Deployment {record.name!r} already exists in namespace "
                f"{cluster.namespace!r} and Shipyard did not make it (helm, kubectl?)",
                hint="give the deployment another name with --name, or delete that one first",
            )
        cluster.apply(self.render(record, desired), dry_run=True)

    def apply(self, record: DeploymentRecord, desired: Desired) -> Observed:
        """Apply the objects for ``desired`` and wait until their rollout finishes;
        ``LoadFailed`` with the pods' reason if it does not within the timeout."""
        objects = self.render(record, desired)
        if not objects:
            self.stop(record, "nothing to serve")
            return Observed(False)
        digest = _digest(objects)
        known = self._applied.get(record.name)
        if known and known[0] == digest:
            # applied already: between steps the cluster's own controllers (the autoscaler)
            # own the scale, so it is only looked at, and applied again if objects went away
            if time.monotonic() - known[1] < RECHECK:
                return known[2]
            seen = self.observe(record)
            if seen.running and set(seen.versions) == set(known[2].versions):
                self._applied[record.name] = (digest, time.monotonic(), seen)
                return seen
        cluster = self.cluster(record)
        objects = _keep_scale(objects, cluster)
        route = [o for o in objects if o["kind"] == "HTTPRoute"]
        rest = [o for o in objects if o["kind"] != "HTTPRoute"]
        cluster.apply(objects, dry_run=True)  # every object accepted, or none written
        cluster.apply(rest)
        deployments = [o["metadata"]["name"] for o in rest if o["kind"] == "Deployment"]
        self._wait(record, cluster, deployments)
        cluster.apply(route)  # weights move once the pods they send traffic to are ready
        self._prune(record, cluster, deployments)
        seen = self.observe(record)
        self._applied[record.name] = (digest, time.monotonic(), seen)
        return seen

    def _wait(self, record: DeploymentRecord, cluster: Cluster, names: list[str]) -> None:
        """Until every Deployment named has rolled out; ``LoadFailed`` with the pods' reason
        at the timeout, or sooner when its pods wait for what waiting will not clear."""
        timeout = options_of(record).timeout
        deadline = time.monotonic() + timeout
        everyone = f"app.kubernetes.io/name in ({record.name},{record.name}-preview)"
        stuck_since: float | None = None
        while True:
            progress = [deployment_progress(cluster.get("apps/v1", "Deployment", n)) for n in names]
            if all(p.done for p in progress):
                return
            pods = cluster.list("v1", "Pod", everyone)
            stuck_since = (stuck_since or time.monotonic()) if stuck(pods) else None
            given_up = stuck_since is not None and time.monotonic() - stuck_since > STUCK_FOR
            if given_up or time.monotonic() >= deadline:
                break
            time.sleep(POLL)
        waiting = "; ".join(p.message for p in progress if not p.done)
        why = pod_problem(pods)
        self._applied.pop(record.name, None)
        after = time.monotonic() - (deadline - timeout)
        raise LoadFailed(
            f"rollout of {record.name} not ready after {after:.0f} s: {waiting}"
            + (f" ({why})" if why else "")
        )

    def _prune(self, record: DeploymentRecord, cluster: Cluster, keep: list[str]) -> None:
        """Delete the deployment's Deployments that are no longer wanted (a finished canary),
        once the ones that stay are ready."""
        for name in _tracks(record.name):
            if name not in keep:
                cluster.delete("apps/v1", "Deployment", name)
        if options_of(record).gateway and f"{record.name}-canary" not in keep:
            cluster.delete("v1", "Service", f"{record.name}-canary")

    def observe(self, record: DeploymentRecord, timeout: float = 10.0) -> Observed:
        """Each track's version and ready pods, and the traffic each version gets: its
        weight in the HTTPRoute with a Gateway, else its share of the ready pods (never
        raises)."""
        try:
            cluster = self.cluster(record)
            selector = f"app.kubernetes.io/name={record.name}"
            deployments = cluster.list("apps/v1", "Deployment", selector)
            pods = cluster.list("v1", "Pod", selector)
            route = self._route(record, cluster)
        except ShipyardError as err:
            return Observed(False, error=err.message)
        if not deployments:
            return Observed(False)
        ready: dict[str, int] = {}
        track_version: dict[str, str] = {}
        for found in deployments:
            labels = found["metadata"]["labels"]
            version = labels.get(manifests.VERSION, "?")
            track_version[f"{record.name}-{labels.get(manifests.TRACK)}"] = version
            available = int((found.get("status") or {}).get("availableReplicas") or 0)
            ready[version] = ready.get(version, 0) + available
        if route is not None:
            weights = {track_version.get(t, "?"): w for t, w in route.items() if w > 0}
        else:
            total = sum(ready.values())
            weights = {v: round(100 * n / total) for v, n in ready.items() if n} if total else {}
        wanted = {v for v, w in record.desired.weights.items() if w > 0}
        synced = set(ready) == wanted and all(deployment_progress(d).done for d in deployments)
        if route is not None:
            synced = synced and weights == {v: record.desired.weights[v] for v in wanted}
        return Observed(
            True,
            None,
            sorted(ready, key=lambda v: int(v) if v.isdigit() else 0),
            {"weights": weights, "shadow": {}},
            [_pod_view(pod) for pod in pods],
            pod_problem(pods),
            synced=synced,
        )

    def _route(self, record: DeploymentRecord, cluster: Cluster) -> dict[str, int] | None:
        """The HTTPRoute's weight for each track Service, when a Gateway routes traffic."""
        if not options_of(record).gateway:
            return None
        served = cluster.served_api_version(GATEWAY_API, "HTTPRoute")
        found = cluster.get(served, "HTTPRoute", record.name) if served else None
        rules = ((found or {}).get("spec") or {}).get("rules") or [{}]
        refs = rules[0].get("backendRefs") or []
        return {str(ref["name"]): int(ref.get("weight", 1)) for ref in refs}

    def probe(self, record: DeploymentRecord) -> bool:
        """Liveness is the kubelet's job (the pods' livenessProbe)."""
        return True

    def kill(self, record: DeploymentRecord, reason: str) -> None:
        """Nothing to kill: the kubelet restarts containers that fail their probe."""

    def load(self, record: DeploymentRecord, version: str) -> None:
        """Prove ``version`` starts before traffic moves to it (a rollback to a version no
        longer running): its preview pod must become ready beside what serves now."""
        serving = {v: w for v, w in record.desired.weights.items() if w > 0}
        self.apply(record, Desired({**serving, version: 0}))

    def stop(self, record: DeploymentRecord, reason: str) -> None:
        """Delete every object of the deployment (Deployments first, so pods go)."""
        cluster = self.cluster(record)
        selector = f"app.kubernetes.io/name={record.name},app.kubernetes.io/managed-by=shipyard"
        for name in _tracks(record.name):
            cluster.delete("apps/v1", "Deployment", name)
        for api_version, kind in (
            ("v1", "Service"),
            ("policy/v1", "PodDisruptionBudget"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            (OPERATOR, "ServiceMonitor"),
            (OPERATOR, "PrometheusRule"),
            (GATEWAY_API, "HTTPRoute"),
        ):
            served = cluster.served_api_version(api_version, kind)
            if served is None:
                continue
            for found in cluster.list(served, kind, selector):
                cluster.delete(served, kind, found["metadata"]["name"])
        self._applied.pop(record.name, None)

    def recreate(self, record: DeploymentRecord, reason: str) -> Observed:
        """Kubernetes replaces pods itself; a recreate is refused when the deploy is asked."""
        raise TargetError("the recreate strategy needs the local target")

    def metrics(self, record: DeploymentRecord, timeout: float = 30.0) -> str:
        """Pods' traffic is read from Prometheus, never from here."""
        raise TargetError(
            f"{record.name} runs on Kubernetes: its metrics are read from Prometheus",
            hint="set monitor.prometheus_url in shipyard.yaml and run `shipyard alerts apply`",
        )

    def smoke(self, record: DeploymentRecord, version: str, inputs: list[Any] | None) -> None:
        """The version's pods are ready (their readiness probe is ``/v2/health/ready``)."""
        observed = self.observe(record)
        ready = [w for w in observed.workers if w.get("version") == version and w.get("ready")]
        if not ready:
            raise TargetError(f"{record.name}: no ready pod serves v{version}")


def _keep_scale(objects: list[dict[str, Any]], cluster: Cluster) -> list[dict[str, Any]]:
    """The objects with the pods the deployment runs now, where the autoscaler (or a person)
    took it above the deployment's replicas: a step splits that total, never shrinks it."""
    tracks = {
        o["metadata"]["labels"][manifests.TRACK]: o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["labels"][manifests.TRACK] != "preview"
    }
    wanted = sum(int(o["spec"]["replicas"]) for o in tracks.values())
    running = 0
    for o in tracks.values():
        live = cluster.get("apps/v1", "Deployment", o["metadata"]["name"])
        running += int(((live or {}).get("spec") or {}).get("replicas") or 0)
    if running <= wanted:
        return objects
    pods = {"stable": running, "canary": 0}
    if "canary" in tracks:
        share = round(100 * int(tracks["canary"]["spec"]["replicas"]) / wanted)
        pods["stable"], pods["canary"] = manifests.split(running, share)
    out = copy.deepcopy(objects)
    for o in out:
        track = o["metadata"]["labels"].get(manifests.TRACK)
        if o["kind"] == "Deployment" and track in pods:
            o["spec"]["replicas"] = pods[track]
        elif o["kind"] == "HorizontalPodAutoscaler":
            o["spec"]["minReplicas"] = min(pods["stable"], o["spec"]["minReplicas"])
    return out


def _tracks(name: str) -> tuple[str, ...]:
    """The Deployments a deployment may have: stable, canary, preview."""
    return name, f"{name}-canary", f"{name}-preview"


def service_address(name: str, namespace: str) -> tuple[str, int]:
    """Where the deployment answers inside the cluster: its Service's DNS name and port."""
    return f"{name}.{namespace}.svc", manifests.SERVICE_PORT


def options_of(record: DeploymentRecord) -> ClusterOptions:
    """The kubernetes settings of a deployment on that target."""
    return ClusterOptions.from_data(record.options.get("kubernetes"))


def _pod_view(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return {
        "pod": meta.get("name"),
        "version": (meta.get("labels") or {}).get(manifests.VERSION),
        "track": (meta.get("labels") or {}).get(manifests.TRACK),
        "phase": status.get("phase"),
        "ready": ready,
    }
