"""What a server runs: passed from ``shipyard serve`` to the supervisor and each worker.

A worker gets the configuration as one JSON line, the first on its stdin, with
the versions and routes current at that moment — a restarted worker comes back
in the state the others are in.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from shipyard.serving.options import default


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost."""

    max_body_bytes: int = default("max_body")
    timeout_s: float = default("timeout")


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """Adaptive batching settings (``max_batch_size`` 1 turns batching off)."""

    max_batch_size: int = default("max_batch_size")
    max_latency_ms: float = default("max_latency_ms")
    max_queue: int = default("max_queue")


@dataclass(frozen=True, slots=True)
class LogOptions:
    """The prediction log that feedback is joined to (``path`` None: no log, no feedback)."""

    path: str | None = None
    retention_s: float = 7 * 86400.0
    max_rows: int = 1_000_000


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """One server: where models come from, what it holds, and how it behaves."""

    model: str
    versions: tuple[str, ...]
    routes: dict[str, Any]  # {"weights": {...}, "shadow": {...}}
    deployment: str
    home: str | None = None  # the registry's home; None when serving a bundle
    bundle: str | None = None
    trust: tuple[str, ...] = ()
    trust_pickle: bool = default("trust_pickle")
    limits: Limits = field(default_factory=Limits)
    batching: BatchOptions = field(default_factory=BatchOptions)
    max_concurrent: int = default("max_concurrent")
    threads: int = default("threads")
    log_format: str = "text"
    access_log: bool = False
    predictions: LogOptions = field(default_factory=LogOptions)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        data = json.loads(text)
        return cls(
            **{
                **data,
                "versions": tuple(data["versions"]),
                "trust": tuple(data["trust"]),
                "limits": Limits(**data["limits"]),
                "batching": BatchOptions(**data["batching"]),
                "predictions": LogOptions(**data["predictions"]),
            }
        )

    def with_state(self, versions: tuple[str, ...], routes: dict[str, Any]) -> ServeConfig:
        return replace(self, versions=versions, routes=routes)
