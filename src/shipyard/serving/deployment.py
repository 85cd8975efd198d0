"""The versions one server process holds for a deployment, and how requests pick one.

Changes follow the hot-swap order: a new version is loaded beside the others
(in a thread, while traffic flows), the route table is replaced in one step,
and a version leaves only once nothing routes to it and no request holds it.
Everything here runs on the worker's event loop, so picking a version and
holding it happen without a suspension point in between: an unload can never
pull a version out from under a request that chose it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInputError, NotFoundError, ShipyardError
from shipyard.serving.config import BatchOptions
from shipyard.serving.host import Loaded, VersionHost
from shipyard.serving.metrics import VersionMetrics
from shipyard.serving.routing import RouteTable


class VersionNotLoaded(NotFoundError):
    """A request named a version this worker does not hold (HTTP: 404)."""


class NotServing(ShipyardError):
    """No route table, or a routed version is missing (HTTP: 503)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """How a worker runs its versions."""

    deployment: str
    threads: int = 4
    max_concurrent: int = 64
    batching: BatchOptions = field(default_factory=BatchOptions)


class Deployment:
    """Loaded versions, the route table between them, and the worker's request slots."""

    def __init__(self, model: str, settings: Settings, loader: Callable[[str], Loaded]) -> None:
        self.model = model
        self.settings = settings
        self.versions: dict[str, VersionHost] = {}
        self.routes: RouteTable | None = None
        self.draining = False
        self.in_flight = 0
        self._loader = loader

    def serving(self) -> bool:
        """Routes are set and every version they name is loaded."""
        return self.routes is not None and self.routes.versions() <= self.versions.keys()

    def ready(self) -> bool:
        """Serving and not draining: readiness turns false first on shutdown, while the
        requests that still arrive are answered."""
        return not self.draining and self.serving()

    async def load(self, version: str) -> VersionHost:
        """Load ``version`` beside the others (no-op when it is already loaded)."""
        host = self.versions.get(version)
        if host is not None:
            return host
        loaded = await asyncio.to_thread(self._loader, version)
        if loaded.name != self.model:
            raise InvalidInputError(
                f"version {version} is of model {loaded.name!r}; this deployment serves "
                f"{self.model!r}"
            )
        host = self.versions.get(version)  # loaded meanwhile by a concurrent command
        if host is None:
            metrics = VersionMetrics(self.settings.deployment, self.model, loaded.version)
            host = VersionHost(
                loaded, metrics, threads=self.settings.threads, batching=self.settings.batching
            )
            self.versions[version] = host
        return host

    def set_routes(self, table: RouteTable) -> None:
        """Switch traffic to ``table`` in one step; every version it names must be loaded."""
        missing = sorted(table.versions() - self.versions.keys(), key=int)
        if missing:
            raise InvalidInputError(
                f"cannot route to version(s) {', '.join(missing)}: not loaded",
                hint="load a version before giving it traffic",
            )
        self.routes = table
        for version, host in self.versions.items():
            if version in table.shadow and table.shadow[version] > 0:
                host.metrics.weight("shadow", table.shadow[version])
            else:
                host.metrics.weight("live", table.weights.get(version, 0))

    async def unload(self, version: str) -> None:
        """Drain ``version`` (no new requests, in-flight ones finish), then free it."""
        table = self.routes
        if table is not None and (
            table.weights.get(version, 0) > 0 or table.shadow.get(version, 0) > 0
        ):
            raise InvalidInputError(
                f"version {version} still receives traffic ({table.to_data()})",
                hint="set routes without it first",
            )
        host = self.versions.pop(version, None)
        if host is None:
            return
        if table is not None and version in table.versions():
            self.routes = table.without(version)
        host.metrics.weight("live", 0)
        await host.drained()
        host.close()

    def pick(self, pinned: str | None, route_key: str | None) -> VersionHost:
        """The version that answers this request, held until the caller releases it."""
        if pinned is not None:
            host = self.versions.get(pinned)
            if host is None:
                raise self._not_loaded(pinned)
        else:
            if self.routes is None or not self.serving():
                raise NotServing(f"model {self.model!r} is not ready")
            host = self.versions[self.routes.choose(route_key)]
        host.hold()
        return host

    def described(self, version: str | None) -> VersionHost:
        """The version metadata is about: the one named, else the one with most traffic."""
        if version is None and self.routes is not None and self.routes.weights:
            version = max(self.routes.weights.items(), key=lambda item: item[1])[0]
        host = self.versions.get(version) if version is not None else None
        if host is None:
            raise self._not_loaded(version)
        return host

    def _not_loaded(self, version: str | None) -> VersionNotLoaded:
        loaded = ", ".join(sorted(self.versions, key=int)) or "none"
        return VersionNotLoaded(
            f"model {self.model!r} has no loaded version {version!r}; loaded: {loaded}"
        )

    def shadows(self, route_key: str | None) -> list[VersionHost]:
        """Shadow versions that get a copy of this request (held; release each)."""
        table = self.routes
        if table is None or not table.shadow:
            return []
        hosts = [self.versions[v] for v in table.mirrored(route_key) if v in self.versions]
        for host in hosts:
            host.hold()
        return hosts

    def state(self) -> dict[str, Any]:
        """What this worker holds, for the admin interface."""
        return {
            "model": self.model,
            "deployment": self.settings.deployment,
            "ready": self.ready(),
            "draining": self.draining,
            "versions": sorted(self.versions, key=int),
            "routes": None if self.routes is None else self.routes.to_data(),
            "in_flight": self.in_flight,
        }

    async def close(self) -> None:
        """Drain and free every version (shutdown)."""
        self.draining = True
        for version in list(self.versions):
            host = self.versions.pop(version)
            await host.drained()
            host.close()
