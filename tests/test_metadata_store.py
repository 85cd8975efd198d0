"""The SQLite metadata store's own behaviour: its file format, pragmas and SQLite's failures.

What every backend must do (numbering, refusals, append-only tables, ...) is in
``test_store_contract.py``, run against SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from shipyard.errors import StoreError
from shipyard.store import Lineage, VersionDraft
from shipyard.store.sql.metadata import SqlMetadataStore
from shipyard.store.sqlite.db import SqliteDatabase
from shipyard.store.sqlite.migrations import APPLICATION_ID, SCHEMA_VERSION


def draft(content: str) -> VersionDraft:
    return VersionDraft(
        flavor="sklearn",
        content_digest=f"sha256:{hashlib.sha256(content.encode()).hexdigest()}",
        artifacts=(),
        lineage=Lineage(python="3.11"),
        created_by="tester",
    )


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_store_uses_wal_foreign_keys_and_current_schema(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "registry.db")
    store = SqlMetadataStore(db)
    conn = db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    store.close()


def test_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(b"this is not a database at all" * 200)
    before = file_hash(path)
    with pytest.raises(StoreError, match="not a usable Shipyard database") as err:
        SqlMetadataStore(SqliteDatabase(path))
    assert "left untouched" in (err.value.hint or "")
    assert file_hash(path) == before


def test_a_write_the_database_refuses_becomes_a_store_error_and_changes_nothing(
    tmp_path: Path,
) -> None:
    db = SqliteDatabase(tmp_path / "registry.db")
    store = SqlMetadataStore(db)
    store.add_version("digits", draft("a"))
    db.conn.execute("PRAGMA query_only = ON")  # as a read-only file or mount would
    with pytest.raises(StoreError, match="cannot be written"):
        store.add_version("digits", draft("b"))
    db.conn.execute("PRAGMA query_only = OFF")
    assert [v.version for v in store.list_versions("digits")] == [1]
    store.close()


def test_an_sqlite_too_old_for_the_shared_sql_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    with pytest.raises(StoreError, match=r"needs 3\.35 or newer"):
        SqliteDatabase(tmp_path / "registry.db")
    assert not (tmp_path / "registry.db").exists()
