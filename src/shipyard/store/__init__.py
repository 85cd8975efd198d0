"""Storage: the interfaces the services use, and ``open_stores`` to pick implementations.

The interfaces and records live in this package's own modules (``metadata``, ``runs``,
``deployments``, ``alerts``, ``artifacts``, ``records``); each implementation lives in a
package of its own (``sqlite/``, ``local/``), imported only when a store is opened, so a
model server that reads one version does not import every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.store.alerts import AlertStateRecord, AlertStore
from shipyard.store.artifacts import ArtifactStore, Blob
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
from shipyard.store.tokens import TokenRecord, TokenStore

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
    "MetadataStore",
    "ModelSummary",
    "ModelVersion",
    "ProcessRecord",
    "RolloutRecord",
    "Run",
    "RunStore",
    "StageRun",
    "Stores",
    "TokenRecord",
    "TokenStore",
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
    tokens: TokenStore

    def close(self) -> None:
        """Release the database connection."""
        self.metadata.close()


def open_stores(home: Path) -> Stores:
    """Open (creating if needed) the stores under a Shipyard home directory."""
    from shipyard.store.local.artifacts import LocalArtifactStore
    from shipyard.store.sqlite.alerts import SqliteAlertStore
    from shipyard.store.sqlite.db import SqliteDatabase
    from shipyard.store.sqlite.deploy import SqliteDeployStore
    from shipyard.store.sqlite.metadata import SqliteMetadataStore
    from shipyard.store.sqlite.runs import SqliteRunStore
    from shipyard.store.sqlite.tokens import SqliteTokenStore

    db = SqliteDatabase(home / "registry.db")
    return Stores(
        home=home,
        metadata=SqliteMetadataStore(db),
        runs=SqliteRunStore(db),
        artifacts=LocalArtifactStore(home / "artifacts"),
        deploy=SqliteDeployStore(db),
        alerts=SqliteAlertStore(db),
        tokens=SqliteTokenStore(db),
    )
