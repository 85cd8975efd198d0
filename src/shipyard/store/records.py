"""The registry's records: plain frozen data, shared by every store implementation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.signature import Signature


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """One file of a model version: its path inside the version, digest and size."""

    path: str
    digest: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"path": self.path, "digest": self.digest, "size": self.size}


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

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "git_commit": self.git_commit,
            "git_branch": self.git_branch,
            "git_dirty": self.git_dirty,
            "source": self.source,
            "python": self.python,
            "platform": self.platform,
            "requirements_digest": self.requirements_digest,
            "data_digests": dict(self.data_digests),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lineage:
        """Inverse of ``to_dict``."""
        return cls(**data)


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
    draft: VersionDraft

    def to_dict(self) -> dict[str, Any]:
        """JSON form used by ``--json`` output and the REST API."""
        d = self.draft
        return {
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at,
            "created_by": d.created_by,
            "flavor": d.flavor,
            "entrypoint": d.entrypoint,
            "content_digest": d.content_digest,
            "description": d.description,
            "artifacts": [a.to_dict() for a in d.artifacts],
            "params": d.params,
            "metrics": d.metrics,
            "tags": d.tags,
            "signature": None if d.signature is None else d.signature.to_dict(),
            "lineage": d.lineage.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """A model with its latest version number and current aliases."""

    name: str
    created_at: str
    created_by: str
    latest_version: int | None
    version_count: int
    aliases: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "latest_version": self.latest_version,
            "version_count": self.version_count,
            "aliases": self.aliases,
        }


@dataclass(frozen=True, slots=True)
class AliasMove:
    """One entry of an alias's history: ``from_version`` → ``to_version``."""

    model: str
    alias: str
    action: str  # "set", "rollback" or "delete"
    from_version: int | None
    to_version: int | None
    at: str
    actor: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "model": self.model,
            "alias": self.alias,
            "action": self.action,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "at": self.at,
            "actor": self.actor,
            "reason": self.reason,
        }


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

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "data": self.data,
        }
