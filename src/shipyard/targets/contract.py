"""What a target is: the contract the engine drives, the state it reports, its errors.

A target makes the running deployment match a desired state and reports what it
observed; it never decides (the engine does). It also says where a new deployment
goes (``place``: address, replicas, its own options checked) and what a new
request changes of one it runs (``update``), which strategies it can run, and
whether its analysis reads Prometheus, so the deploy service asks instead of
knowing any target. Two targets keep this contract: ``local`` (a ``shipyard
serve`` process on this machine, ``targets/local.py``) and ``kubernetes``
(Deployments and a Service, through the cluster's API, ``k8s/target.py``).
``Targets`` hands each deployment to its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.store import DeploymentRecord, Desired


class TargetError(ShipyardError):
    """The target could not do what was asked right now (worth trying again)."""


class LoadFailed(TargetError):
    """A version could not be loaded; it was unloaded again and nothing else changed."""


class StartFailed(TargetError):
    """The server exited while starting, or was not ready in time."""


@dataclass(slots=True)
class Observed:
    """What the deployment's server (or cluster) reports."""

    running: bool
    pid: int | None = None
    versions: list[str] = field(default_factory=list)
    routes: dict[str, Any] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    # a target whose routes cannot mirror the weights exactly (pods split a cluster's
    # traffic) says itself whether it holds the desired state
    synced: bool | None = None

    @property
    def ready(self) -> bool:
        """Every worker is ready to answer."""
        return self.running and bool(self.workers) and all(w.get("ready") for w in self.workers)

    def holds(self, desired: Desired) -> bool:
        """The server holds exactly ``desired``: its versions and its routes."""
        if self.synced is not None:
            return self.running and self.synced
        return (
            self.running
            and set(self.versions) == desired.versions()
            and normal(self.routes) == normal(desired.routes())
        )

    @property
    def recovering(self) -> bool:
        """A worker is starting again (its supervisor is restoring it)."""
        return any(w.get("starting") for w in self.workers)


def normal(routes: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """A route table with string versions, integer weights and no empty shadows."""
    return (
        {str(v): int(w) for v, w in routes.get("weights", {}).items()},
        {str(v): int(s) for v, s in (routes.get("shadow") or {}).items() if int(s) > 0},
    )


@dataclass(frozen=True, slots=True)
class Asked:
    """What a deploy request says of where and how its deployment runs (None: not said)."""

    strategy: str
    host: str | None = None
    port: int | None = None
    replicas: int | None = None
    rollback_window: float | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and how a deployment runs, as its target decided."""

    host: str
    port: int
    replicas: int
    rollback_window: float  # seconds a rolled-out version's predecessor stays loaded
    options: dict[str, Any]


def check_replicas(replicas: int, most: int, what: str) -> int:
    """A replica count from 1 to ``most`` (a target's bound), or a clear error."""
    if not 1 <= replicas <= most:
        raise InvalidInputError(f"--replicas {replicas}: choose 1 to {most} {what}")
    return replicas


class Target(Protocol):
    """What the engine and the deploy service ask of a target (every method may raise
    ``TargetError``; ``place`` and ``update`` raise ``InvalidInputError`` for a request
    the target cannot run, and ``check`` for a state it cannot reach, before anything is
    recorded)."""

    strategies: tuple[str, ...]  # the strategies it can run
    analysis_reads_prometheus: bool  # a step's analysis needs the monitor's prometheus_url

    def place(self, name: str, asked: Asked, taken: dict[int, str]) -> Placement:
        """Where a new deployment ``name`` goes (``taken``: ports of the other deployments)."""
        ...

    def update(self, record: DeploymentRecord, asked: Asked) -> tuple[Placement, bool]:
        """The placement a new request gives ``record``, and whether it changed."""
        ...

    def check(self, record: DeploymentRecord, desired: Desired) -> None: ...

    def observe(self, record: DeploymentRecord, timeout: float = 10.0) -> Observed: ...

    def probe(self, record: DeploymentRecord) -> bool: ...

    def kill(self, record: DeploymentRecord, reason: str) -> None: ...

    def stop(self, record: DeploymentRecord, reason: str) -> None: ...

    def load(self, record: DeploymentRecord, version: str) -> None: ...

    def apply(self, record: DeploymentRecord, desired: Desired) -> Observed: ...

    def recreate(self, record: DeploymentRecord, reason: str) -> Observed: ...

    def metrics(self, record: DeploymentRecord, timeout: float = 30.0) -> str: ...

    def smoke(self, record: DeploymentRecord, version: str, inputs: list[Any] | None) -> None: ...


class Targets:
    """Each deployment's own target, by its ``target`` field (created on first use)."""

    def __init__(self, makers: dict[str, Callable[[], Target]]) -> None:
        self._makers = makers
        self._made: dict[str, Target] = {}

    @property
    def kinds(self) -> tuple[str, ...]:
        """The targets a deployment may name."""
        return tuple(self._makers)

    def named(self, kind: str) -> Target:
        """The target called ``kind`` (an unknown name: a clear error)."""
        if kind not in self._made:
            if kind not in self._makers:
                raise InvalidInputError(
                    f"unknown target {kind!r}; choose one of: {', '.join(self._makers)}"
                )
            self._made[kind] = self._makers[kind]()
        return self._made[kind]

    def of(self, record: DeploymentRecord) -> Target:
        """The target that runs ``record``."""
        if record.target not in self._makers:
            raise TargetError(f"deployment {record.name!r} has an unknown target {record.target!r}")
        return self.named(record.target)

    def check(self, record: DeploymentRecord, desired: Desired) -> None:
        self.of(record).check(record, desired)

    def observe(self, record: DeploymentRecord, timeout: float = 10.0) -> Observed:
        return self.of(record).observe(record, timeout)

    def probe(self, record: DeploymentRecord) -> bool:
        return self.of(record).probe(record)

    def kill(self, record: DeploymentRecord, reason: str) -> None:
        self.of(record).kill(record, reason)

    def stop(self, record: DeploymentRecord, reason: str) -> None:
        self.of(record).stop(record, reason)

    def load(self, record: DeploymentRecord, version: str) -> None:
        self.of(record).load(record, version)

    def apply(self, record: DeploymentRecord, desired: Desired) -> Observed:
        return self.of(record).apply(record, desired)

    def recreate(self, record: DeploymentRecord, reason: str) -> Observed:
        return self.of(record).recreate(record, reason)

    def metrics(self, record: DeploymentRecord, timeout: float = 30.0) -> str:
        return self.of(record).metrics(record, timeout)

    def smoke(self, record: DeploymentRecord, version: str, inputs: list[Any] | None) -> None:
        self.of(record).smoke(record, version, inputs)
