"""Traffic split between the versions a deployment serves.

A route table gives each live version a weight (``{"3": 90, "4": 10}``) and each
shadow version the share of live traffic it receives a copy of (``{"5": 20}``,
in percent). A request without a route key is placed by a random draw; with one
(``x-shipyard-route-key``) the draw is a hash of the key, so the same key lands
on the same version in every worker process and across restarts.
"""

from __future__ import annotations

import bisect
import json
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Weights of the live versions and copy shares of the shadow versions."""

    weights: dict[str, int]
    shadow: dict[str, int] = field(default_factory=dict)
    _versions: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        live = [(v, w) for v, w in self.weights.items() if w > 0]
        bounds, total = [], 0
        for _, weight in live:
            total += weight
            bounds.append(total)
        object.__setattr__(self, "_versions", tuple(v for v, _ in live))
        object.__setattr__(self, "_bounds", tuple(bounds))

    @property
    def total(self) -> int:
        return self._bounds[-1] if self._bounds else 0

    def versions(self) -> set[str]:
        """Every version the table names (live, at weight 0, or shadow)."""
        return set(self.weights) | set(self.shadow)

    def choose(self, route_key: str | None = None) -> str:
        """The live version for one request (sticky when ``route_key`` is given)."""
        if len(self._versions) == 1:
            return self._versions[0]
        if route_key is None:
            point = random.randrange(self.total)
        else:
            point = zlib.crc32(route_key.encode()) % self.total
        return self._versions[bisect.bisect_right(self._bounds, point)]

    def mirrored(self, route_key: str | None = None) -> list[str]:
        """The shadow versions that get a copy of this request."""
        if not self.shadow:
            return []
        if route_key is None:
            draw = random.randrange(100)
        else:
            draw = zlib.crc32(b"shadow:" + route_key.encode()) % 100
        return [version for version, share in self.shadow.items() if draw < share]

    def without(self, version: str) -> RouteTable:
        """The same table with ``version`` no longer named (it is being unloaded)."""
        return RouteTable(
            {v: w for v, w in self.weights.items() if v != version},
            {v: s for v, s in self.shadow.items() if v != version},
        )

    def to_data(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "shadow": dict(self.shadow)}


def route_table(data: Any, where: str = "routes") -> RouteTable:
    """Check a ``{"weights": {...}, "shadow": {...}}`` document and build its table."""
    if not isinstance(data, dict) or not isinstance(data.get("weights"), dict):
        raise InvalidInputError(
            f"{where}: expected an object with 'weights', like "
            '{"weights": {"3": 90, "4": 10}, "shadow": {"5": 20}}'
        )
    unknown = set(data) - {"weights", "shadow"}
    if unknown:
        raise InvalidInputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    weights = _shares(data["weights"], f"{where}.weights", limit=None)
    shadow = _shares(data.get("shadow") or {}, f"{where}.shadow", limit=100)
    if sum(weights.values()) <= 0:
        raise InvalidInputError(f"{where}.weights: at least one version needs a weight above 0")
    both = sorted(set(weights) & {v for v, share in shadow.items() if share > 0})
    if both and any(weights[v] > 0 for v in both):
        raise InvalidInputError(
            f"{where}: version(s) {', '.join(both)} cannot take live traffic and be a shadow"
        )
    return RouteTable(weights, shadow)


def _shares(data: Any, where: str, limit: int | None) -> dict[str, int]:
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: expected an object of version → number")
    shares: dict[str, int] = {}
    for version, share in data.items():
        if not (str(version).isascii() and str(version).isdigit()):
            raise InvalidInputError(f"{where}: {version!r} is not a version number")
        if str(int(version)) in shares:
            raise InvalidInputError(f"{where}: version {int(version)} is given twice")
        if isinstance(share, bool) or not isinstance(share, int) or share < 0:
            raise InvalidInputError(
                f"{where}.{version}: expected a whole number ≥ 0, got {share!r}"
            )
        if limit is not None and share > limit:
            raise InvalidInputError(f"{where}.{version}: {share} is over {limit} (percent)")
        shares[str(int(version))] = share
    return shares


def parse_shares(text: str, where: str) -> dict[str, int]:
    """``3=90,4=10`` or ``{"3": 90, "4": 10}`` from the command line."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as err:  # not JSON, or a number past Python's digit limit
            raise InvalidInputError(f"{where}: not valid JSON: {err}") from None
        return _shares(data, where, limit=None)
    data = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        version, sep, share = part.partition("=")
        share = share.strip()
        if not sep or not (share.isascii() and share.isdigit() and len(share) <= 6):
            raise InvalidInputError(
                f"{where}: {part[:40]!r} is not VERSION=SHARE", hint="for example: 3=90,4=10"
            )
        data[version.strip()] = int(share)
    return _shares(data, where, limit=None)
