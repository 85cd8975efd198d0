"""What a target is: the contract the engine drives, the state it reports, its errors.

A target makes the running deployment match a desired state and reports what it
observed; it never decides (the engine does). Two targets keep this contract:
``local`` (a ``shipyard serve`` process on this machine) and ``kubernetes``
(Deployments and a Service, through the cluster's API). ``Targets`` hands each
deployment to its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shipyard.errors import ShipyardError
from shipyard.store import DeploymentRecord, Desired

TARGETS = ("local", "kubernetes")


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


class Target(Protocol):
    """What the engine asks of a target (every method may raise ``TargetError``)."""

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

    def of(self, record: DeploymentRecord) -> Target:
        """The target that runs ``record``."""
        kind = record.target
        if kind not in self._made:
            if kind not in self._makers:
                raise TargetError(f"deployment {record.name!r} has an unknown target {kind!r}")
            self._made[kind] = self._makers[kind]()
        return self._made[kind]

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
