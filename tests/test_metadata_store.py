"""The SQLite metadata store: schema, migrations, refusal of bad databases, append-only tables."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from shipyard.errors import StoreError
from shipyard.store import Lineage, VersionDraft
from shipyard.store.sqlite.db import SqliteDatabase
from shipyard.store.sqlite.metadata import SqliteMetadataStore
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
    store = SqliteMetadataStore(SqliteDatabase(tmp_path / "registry.db"))
    conn = store._db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    store.close()


def test_reopening_keeps_data_and_does_not_reapply_migrations(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    store = SqliteMetadataStore(SqliteDatabase(path))
    store.add_version("digits", draft("a"))
    store.close()
    again = SqliteMetadataStore(SqliteDatabase(path))
    assert [v.version for v in again.list_versions("digits")] == [1]
    again.close()


def test_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(b"this is not a database at all" * 200)
    before = file_hash(path)
    with pytest.raises(StoreError, match="not a usable Shipyard database") as err:
        SqliteMetadataStore(SqliteDatabase(path))
    assert "left untouched" in (err.value.hint or "")
    assert file_hash(path) == before


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    SqliteMetadataStore(SqliteDatabase(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    before = file_hash(path)
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 5}, newer"):
        SqliteMetadataStore(SqliteDatabase(path))
    assert file_hash(path) == before


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    before = file_hash(path)
    with pytest.raises(StoreError, match="not a Shipyard metadata store"):
        SqliteMetadataStore(SqliteDatabase(path))
    assert file_hash(path) == before


def test_versions_cannot_be_updated_or_deleted(tmp_path: Path) -> None:
    store = SqliteMetadataStore(SqliteDatabase(tmp_path / "registry.db"))
    store.add_version("digits", draft("a"))
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store._db.conn.execute("UPDATE model_versions SET flavor = 'onnx'")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store._db.conn.execute("DELETE FROM model_versions")
    store.close()


def test_events_and_alias_history_are_append_only(tmp_path: Path) -> None:
    store = SqliteMetadataStore(SqliteDatabase(tmp_path / "registry.db"))
    store.add_version("digits", draft("a"))
    store.move_alias("digits", "production", 1, action="set", actor="t", reason="")
    for table in ("events", "alias_history"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store._db.conn.execute(f"DELETE FROM {table}")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store._db.conn.execute(f"UPDATE {table} SET actor = 'someone else'")
    store.close()


def test_registration_and_its_event_commit_together(tmp_path: Path) -> None:
    store = SqliteMetadataStore(SqliteDatabase(tmp_path / "registry.db"))
    version, created = store.add_version("digits", draft("a"))
    assert created and version.version == 1
    kinds = [(e.kind, e.version) for e in store.list_events(model="digits")]
    assert kinds == [("model.created", None), ("model.version.registered", 1)]
    store.close()


def test_events_limit_keeps_newest_in_order_and_after_id_filters(tmp_path: Path) -> None:
    store = SqliteMetadataStore(SqliteDatabase(tmp_path / "registry.db"))
    for i in range(5):
        store.add_version("digits", draft(str(i)))
    newest = store.list_events(limit=2)
    assert [e.version for e in newest] == [4, 5]
    assert [e.id for e in store.list_events(after_id=newest[0].id)] == [newest[1].id]
    store.close()


def test_a_write_the_database_refuses_becomes_a_store_error_and_changes_nothing(
    tmp_path: Path,
) -> None:
    store = SqliteMetadataStore(SqliteDatabase(tmp_path / "registry.db"))
    store.add_version("digits", draft("a"))
    store._db.conn.execute("PRAGMA query_only = ON")  # as a read-only file or mount would
    with pytest.raises(StoreError, match="cannot be written"):
        store.add_version("digits", draft("b"))
    store._db.conn.execute("PRAGMA query_only = OFF")
    assert [v.version for v in store.list_versions("digits")] == [1]
    store.close()
