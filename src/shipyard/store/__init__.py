"""Storage: the metadata store (SQLite by default) and the artifact store (local FS)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.store.artifacts import ArtifactStore, Blob, LocalArtifactStore
from shipyard.store.metadata import MetadataStore
from shipyard.store.records import (
    AliasMove,
    ArtifactRef,
    Event,
    Lineage,
    ModelSummary,
    ModelVersion,
    VersionDraft,
)
from shipyard.store.sqlite import SqliteMetadataStore

__all__ = [
    "AliasMove",
    "ArtifactRef",
    "ArtifactStore",
    "Blob",
    "Event",
    "Lineage",
    "LocalArtifactStore",
    "MetadataStore",
    "ModelSummary",
    "ModelVersion",
    "SqliteMetadataStore",
    "Stores",
    "VersionDraft",
    "open_stores",
]


@dataclass(frozen=True, slots=True)
class Stores:
    """The two stores a Shipyard home holds."""

    home: Path
    metadata: MetadataStore
    artifacts: ArtifactStore

    def close(self) -> None:
        """Release the metadata store's connection."""
        self.metadata.close()


def open_stores(home: Path) -> Stores:
    """Open (creating if needed) the stores under a Shipyard home directory."""
    return Stores(
        home=home,
        metadata=SqliteMetadataStore(home / "registry.db"),
        artifacts=LocalArtifactStore(home / "artifacts"),
    )
