"""The registry's records: frozen data shared by every store implementation.

They serialise to JSON as they are (see ``shipyard.jsonio``): field order here
is the order users see in ``--json`` output.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from shipyard.signature import Signature


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """One file of a model version: its path inside the version, digest and size."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a version came from: source tree state and the environment that made it."""

    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    source: str | None = None
    python: str = ""
    platform: str = ""
    requirements_digest: str | None = None
    data_digests: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VersionDraft:
    """Everything a new version is made of; the store assigns its number and time."""

    flavor: str
    content_digest: str
    artifacts: tuple[ArtifactRef, ...]
    lineage: Lineage
    created_by: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    signature: Signature | None = None
    entrypoint: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """An immutable registered version."""

    model: str
    version: int
    created_at: str
    created_by: str
    flavor: str
    entrypoint: str | None
    content_digest: str
    description: str
    artifacts: tuple[ArtifactRef, ...]
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    signature: Signature | None
    lineage: Lineage

    @classmethod
    def from_draft(
        cls, model: str, version: int, created_at: str, draft: VersionDraft
    ) -> ModelVersion:
        """The version a draft becomes once the store has numbered and dated it."""
        values = {f.name: getattr(draft, f.name) for f in fields(draft)}
        return cls(model=model, version=version, created_at=created_at, **values)


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """A model with its latest version number and current aliases."""

    name: str
    created_at: str
    created_by: str
    latest_version: int | None
    version_count: int
    aliases: dict[str, int]


@dataclass(frozen=True, slots=True)
class AliasMove:
    """One entry of an alias's history: ``from_version`` → ``to_version``."""

    id: int
    model: str
    alias: str
    action: str  # "set", "rollback" or "delete"
    from_version: int | None
    to_version: int | None
    at: str
    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class Event:
    """An append-only audit record of a state change."""

    id: int
    at: str
    actor: str
    kind: str
    model: str | None
    version: int | None
    data: dict[str, Any]
