"""Storage: the metadata store (SQLite by default) and the artifact store (local FS)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.store.alerts import AlertStateRecord, AlertStore
from shipyard.store.artifacts import ArtifactStore, Blob, LocalArtifactStore
from shipyard.store.deployments import (
    AliasChange,
    DeploymentRecord,
    DeployStore,
    Desired,
    ProcessRecord,
    RolloutRecord,
)
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
from shipyard.store.runs import CacheEntry, Run, RunStore, StageRun
from shipyard.store.sqlite import SqliteMetadataStore
from shipyard.store.sqlite_alerts import SqliteAlertStore
from shipyard.store.sqlite_db import SqliteDatabase
from shipyard.store.sqlite_deploy import SqliteDeployStore
from shipyard.store.sqlite_runs import SqliteRunStore

__all__ = [
    "AlertStateRecord",
    "AlertStore",
    "AliasChange",
    "AliasMove",
    "ArtifactRef",
    "ArtifactStore",
    "Blob",
    "CacheEntry",
    "DeployStore",
    "DeploymentRecord",
    "Desired",
    "Event",
    "Lineage",
    "LocalArtifactStore",
    "MetadataStore",
    "ModelSummary",
    "ModelVersion",
    "ProcessRecord",
    "RolloutRecord",
    "Run",
    "RunStore",
    "SqliteAlertStore",
    "SqliteDatabase",
    "SqliteDeployStore",
    "SqliteMetadataStore",
    "SqliteRunStore",
    "StageRun",
    "Stores",
    "VersionDraft",
    "open_stores",
]


@dataclass(frozen=True, slots=True)
class Stores:
    """The stores a Shipyard home holds (metadata and runs share one database)."""

    home: Path
    metadata: MetadataStore
    runs: RunStore
    artifacts: ArtifactStore
    deploy: DeployStore
    alerts: AlertStore

    def close(self) -> None:
        """Release the database connection."""
        self.metadata.close()


def open_stores(home: Path) -> Stores:
    """Open (creating if needed) the stores under a Shipyard home directory."""
    db = SqliteDatabase(home / "registry.db")
    return Stores(
        home=home,
        metadata=SqliteMetadataStore(db),
        runs=SqliteRunStore(db),
        artifacts=LocalArtifactStore(home / "artifacts"),
        deploy=SqliteDeployStore(db),
        alerts=SqliteAlertStore(db),
    )
