"""The SQLite database behind the SQL stores: opening, refusing, migrating, transactions.

``SqliteDatabase`` is the ``shipyard.store.sql`` ``Database`` of one file: WAL
journal, foreign keys on, ``synchronous=FULL`` so a committed change survives a
power cut, and ``BEGIN IMMEDIATE`` for every write so concurrent writers queue on
the database lock instead of failing. A corrupt, foreign or newer database is
refused before anything is written to it. Every SQLite error leaves as a
``StoreError`` that says what to do.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shipyard.errors import StoreError
from shipyard.store.sql.database import Duplicate
from shipyard.store.sqlite.migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

# RETURNING and INSERT ... ON CONFLICT DO UPDATE, which the shared SQL uses
_MIN_SQLITE = (3, 35, 0)
_UNIQUE_VIOLATIONS = (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)


class _SqliteTransaction:
    """The statements of one transaction, with unique violations raised as ``Duplicate``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """See ``Transaction.execute``."""
        try:
            return self._conn.execute(sql, args)
        except sqlite3.IntegrityError as err:
            if err.sqlite_errorcode in _UNIQUE_VIOLATIONS:
                raise Duplicate(str(err)) from err
            raise


class SqliteDatabase:
    """One connection, shared by a process's threads under a lock."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 60.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise StoreError(
                f"this Python's SQLite is {sqlite3.sqlite_version}; Shipyard needs 3.35 or newer",
                hint="use a Python built with a newer SQLite (python.org and distribution builds "
                "since 2021 are), or a PostgreSQL metadata store",
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"cannot use {path.parent} as the Shipyard home: {err.strerror}",
                hint="point SHIPYARD_HOME (--home) at a directory you can write to",
            ) from None
        try:
            self.conn = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._open(deadline=time.monotonic() + busy_timeout_s)
        except sqlite3.DatabaseError as err:
            raise self.unusable(err) from err

    def _open(self, deadline: float) -> None:
        """Check, configure and migrate; retried while another process is creating the file.

        SQLite answers "database is locked" without waiting in a few cases around a
        database's first moments (a journal-mode switch, a hot journal), so two
        commands opening a brand-new home at once retry here instead of failing.
        """
        while True:
            try:
                self._check_header()
                self.conn.execute("PRAGMA foreign_keys = ON")
                if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = FULL")
                self._migrate()
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                time.sleep(0.05)

    def unusable(self, err: sqlite3.Error | Duplicate) -> StoreError:
        """The user-facing error for an SQLite failure."""
        if "locked" in str(err) or "busy" in str(err):
            return StoreError(
                f"the metadata store {self.path} stayed locked by another process: {err}",
                hint="another shipyard command holds a long write; retry when it finishes",
            )
        if "readonly" in str(err):
            return StoreError(
                f"the metadata store {self.path} cannot be written: {err}",
                hint="check the permissions of the file, its directory and the file system",
            )
        return StoreError(
            f"the metadata store {self.path} is not a usable Shipyard database: {err}",
            hint="it may be corrupt or not Shipyard's; it was left untouched. Restore it from "
            "a backup or point SHIPYARD_HOME (--home) at another directory",
        )

    def _check_header(self) -> None:
        """Refuse a foreign, corrupt or newer database before writing anything.

        The three values are read in one transaction, so a migration committed by
        another process between them cannot make a new Shipyard database look foreign.
        """
        conn = self.conn
        conn.execute("BEGIN")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            schema = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables > 0):
            raise StoreError(
                f"{self.path} is an SQLite database but not a Shipyard metadata store",
                hint="point SHIPYARD_HOME (--home) at a directory of its own; the file was "
                "left untouched",
            )
        if schema > SCHEMA_VERSION:
            raise StoreError(
                f"the metadata store {self.path} has schema version {schema}, newer than "
                f"this Shipyard understands (up to {SCHEMA_VERSION})",
                hint="upgrade Shipyard (pip install -U shipyard); the database was left untouched",
            )

    def _migrate(self) -> None:
        conn = self.conn
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        # A migration may rebuild a table others refer to (SQLite's way to change a
        # constraint): foreign keys are off meanwhile and checked before the commit.
        conn.execute("PRAGMA foreign_keys = OFF")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = conn.execute("PRAGMA user_version").fetchone()[0]  # under the lock
                for statements in MIGRATIONS[current:]:
                    for sql in statements:
                        conn.execute(sql)
                broken = conn.execute("PRAGMA foreign_key_check").fetchone()
                if broken is not None:
                    raise sqlite3.IntegrityError(f"a migration broke a reference from {broken[0]}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def tx(self) -> Iterator[_SqliteTransaction]:
        """One write transaction, taken with the database lock up front."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                raise self.unusable(err) from err
            try:
                yield _SqliteTransaction(self.conn)
            except (sqlite3.DatabaseError, Duplicate) as err:
                self.conn.execute("ROLLBACK")
                raise self.unusable(err) from err
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.DatabaseError as err:
                self.conn.execute("ROLLBACK")
                raise self.unusable(err) from err

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return every row."""
        with self._lock:
            try:
                return self.conn.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as err:
                raise self.unusable(err) from err

    def json_field(self, column: str, key: str) -> str:
        """See ``Database.json_field``."""
        return f"json_extract({column}, '$.{key}')"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()
