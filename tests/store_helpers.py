"""The metadata-store backends under test (SQLite and a real PostgreSQL), with raw access
for what the stores themselves never do, shared by the store test modules."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest

from shipyard.store import Lineage, Run, StageRun, Stores, VersionDraft, open_stores
from shipyard.store.sql.database import Database


def draft(content: str, **changes: object) -> VersionDraft:
    """A version draft whose content digest is made from ``content``."""
    base = VersionDraft(
        flavor="sklearn",
        content_digest=f"sha256:{hashlib.sha256(content.encode()).hexdigest()}",
        artifacts=(),
        lineage=Lineage(python="3.11", git_commit="abc"),
        created_by="tester",
    )
    return replace(base, **changes)


@dataclass
class Backend:
    """One backend under test: where its database is, and raw access for the tests."""

    name: str
    location: str  # a file path or a postgresql:// URL
    home: Path

    def open(self) -> Stores:
        """The stores, as ``open_stores`` gives them."""
        return open_stores(self.home, metadata=self.location)

    def database(self) -> Database:
        """The database on its own, for statements the stores never issue."""
        if self.name == "sqlite":
            from shipyard.store.sqlite.db import SqliteDatabase

            return SqliteDatabase(Path(self.location))
        from shipyard.store.postgres.db import PostgresDatabase

        return PostgresDatabase(self.location)

    def raw(self, *statements: str) -> None:
        """Run statements with the engine's own driver, outside Shipyard."""
        if self.name == "sqlite":
            with contextlib.closing(sqlite3.connect(self.location)) as conn:
                for sql in statements:
                    conn.execute(sql)
                conn.commit()
            return
        with psycopg.connect(self.location, autocommit=True) as pg:
            for sql in statements:
                pg.execute(sql)

    def set_schema_version(self, version: int) -> None:
        """Mark the database as migrated by another Shipyard up to ``version``."""
        if self.name == "sqlite":
            self.raw(f"PRAGMA user_version = {version}")
        else:
            self.raw(f"UPDATE shipyard_schema SET version = {version}")

    def snapshot(self) -> object:
        """Everything a refusal must leave as it was."""
        if self.name == "sqlite":
            files = [Path(self.location), Path(self.location + "-wal")]  # no -wal: nothing logged
            return [
                hashlib.sha256(f.read_bytes() if f.exists() else b"").hexdigest() for f in files
            ]
        with psycopg.connect(self.location, autocommit=True) as pg:
            tables = [
                name
                for (name,) in pg.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                ).fetchall()
            ]
            counts = {t: pg.execute(f"SELECT count(*) FROM {t}").fetchone() for t in tables}
            schema = pg.execute("SELECT * FROM shipyard_schema").fetchall() if tables else []
            return tables, counts, schema


@pytest.fixture(name="backend", params=["sqlite", "postgres"])
def backend_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each backend in turn, with an empty database."""
    if request.param == "sqlite":
        location = str(tmp_path / "registry.db")
    else:
        location = request.getfixturevalue("postgres_url")
    return Backend(request.param, location, tmp_path / "home")


@pytest.fixture(name="opened")
def opened_fixture(backend: Backend) -> Iterator[Stores]:
    """The backend's stores, open."""
    stores = backend.open()
    yield stores
    stores.close()


def run_record(run_id: str, project: str = "p", started: str = "2026-01-01T00:00:00Z") -> Run:
    return Run(
        run_id,
        project,
        "m",
        "running",
        started,
        None,
        "tester",
        "manual",
        "abc",
        "main",
        True,
        {"lr": 0.1},
        None,
        (StageRun("train"), StageRun("evaluate")),
    )
