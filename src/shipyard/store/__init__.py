"""Storage: the interfaces the services use, and ``open_stores`` to pick implementations.

The interfaces and records live in this package's own modules (``metadata``, ``runs``,
``deployments``, ``alerts``, ``artifacts``, ``records``); each implementation lives in a
package of its own, imported only when a store is opened, so a model server that reads
one version does not import every backend: ``sql/`` holds the metadata stores' SQL,
written once over a ``Database`` that ``sqlite/`` (the embedded default) or
``postgres/`` (a team's shared server) provides; ``local/`` keeps artifacts on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInputError
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

if TYPE_CHECKING:
    from shipyard.store.sql.database import Database

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
    "open_database",
    "open_stores",
]


class Stores:
    """The stores a Shipyard home holds (metadata and runs share one database).

    The run, deployment, alert and token stores are made on first use, so a process
    that reads model versions only (a model server's worker) imports none of them.
    """

    def __init__(
        self,
        home: Path,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        *,
        runs: Callable[[], RunStore],
        deploy: Callable[[], DeployStore],
        alerts: Callable[[], AlertStore],
        tokens: Callable[[], TokenStore],
    ) -> None:
        self.home = home
        self.metadata = metadata
        self.artifacts = artifacts
        self._runs, self._deploy, self._alerts, self._tokens = runs, deploy, alerts, tokens

    @cached_property
    def runs(self) -> RunStore:
        return self._runs()

    @cached_property
    def deploy(self) -> DeployStore:
        return self._deploy()

    @cached_property
    def alerts(self) -> AlertStore:
        return self._alerts()

    @cached_property
    def tokens(self) -> TokenStore:
        return self._tokens()

    def close(self) -> None:
        """Release the database connection."""
        self.metadata.close()


def open_stores(home: Path, *, metadata: str | None = None, artifacts: str | None = None) -> Stores:
    """Open (creating if needed) the stores under a Shipyard home directory.

    ``metadata`` picks the metadata database: ``None`` is ``HOME/registry.db``, a path
    another SQLite file, a ``postgresql://`` (or ``postgres://``) URL a PostgreSQL
    database; the models, runs, deployments, alerts and tokens all live in it.
    ``artifacts`` picks the artifact store: ``None`` is ``HOME/artifacts``, else a
    directory or ``s3://bucket/prefix`` (see ``store.location``).
    """
    from shipyard.store.location import open_artifacts
    from shipyard.store.sql.metadata import SqlMetadataStore

    db = open_database(home, metadata)
    return Stores(
        home,
        SqlMetadataStore(db),
        open_artifacts(artifacts or home / "artifacts", home),
        runs=lambda: _sql_runs(db),
        deploy=lambda: _sql_deploy(db),
        alerts=lambda: _sql_alerts(db),
        tokens=lambda: _sql_tokens(db),
    )


# Each SQL store's module is imported when the store is first used.
def _sql_runs(db: Database) -> RunStore:
    from shipyard.store.sql.runs import SqlRunStore

    return SqlRunStore(db)


def _sql_deploy(db: Database) -> DeployStore:
    from shipyard.store.sql.deploy import SqlDeployStore

    return SqlDeployStore(db)


def _sql_alerts(db: Database) -> AlertStore:
    from shipyard.store.sql.alerts import SqlAlertStore

    return SqlAlertStore(db)


def _sql_tokens(db: Database) -> TokenStore:
    from shipyard.store.sql.tokens import SqlTokenStore

    return SqlTokenStore(db)


def open_database(home: Path, metadata: str | None) -> Database:
    """The database ``open_stores`` was pointed at (a backend's driver is imported only
    when it is used: psycopg only for a PostgreSQL URL)."""
    if metadata is not None and "://" in metadata:
        scheme = metadata.split("://", 1)[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise InvalidInputError(
                f"unknown metadata store scheme {scheme + '://'!r}",
                hint="give a path to an SQLite file or a postgresql:// (postgres://) URL",
            )
        from shipyard.store.postgres.db import PostgresDatabase

        return PostgresDatabase(metadata)
    from shipyard.store.sqlite.db import SqliteDatabase

    path = home / "registry.db" if metadata is None else Path(metadata).expanduser()
    return SqliteDatabase(path)
