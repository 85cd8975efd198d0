"""The PostgreSQL database behind the SQL stores: connecting, refusing, migrating, transactions.

``PostgresDatabase`` is the ``shipyard.store.sql`` ``Database`` of one PostgreSQL
database, for a team whose commands and servers share one metadata store.

Concurrency: every write transaction first takes ``pg_advisory_xact_lock`` on one
constant key (``WRITER_LOCK``), so writers of the database run one after another,
exactly as SQLite's ``BEGIN IMMEDIATE`` makes them: the stores' read-then-write
paths (the next version number, the deployment generation check, the one active
rollout) stay correct across processes and machines, and version numbers stay
unique and gapless per model. Transactions are READ COMMITTED, so each statement
after the lock sees everything the previous writer committed. The lock is the
database's own (advisory locks are per database) and ends with the transaction.

Opening a database checks the ``shipyard_schema`` table before writing anything: a
non-empty database that is not Shipyard's, or one whose schema is newer than this
Shipyard, is refused with ``StoreError``. Migrations run in one transaction under
the same lock, so processes opening a fresh database at once all succeed.

One connection per process, shared by its threads under a lock, with autocommit off
and explicit commits. A connection that drops (the server restarted) is opened again
on the next call. Every failure leaves as a ``StoreError`` that names the server as
``host:port/database`` (never the password) and says what to check.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import psycopg.conninfo
import psycopg.errors

from shipyard.errors import StoreError
from shipyard.store.postgres.migrations import (
    APPLICATION,
    MIGRATIONS,
    SCHEMA_TABLE,
    SCHEMA_VERSION,
)
from shipyard.store.sql.database import Duplicate

# 'SHPY' in ASCII: the advisory lock key every writer (and every migration) takes first.
WRITER_LOCK = 0x53485059
_LOCK_SQL = f"SELECT pg_advisory_xact_lock({WRITER_LOCK})"
_CONNECT_TIMEOUT_S = 10

Connection = psycopg.Connection[tuple[Any, ...]]


@functools.lru_cache(maxsize=1024)
def _dialect(sql: str) -> str:
    """The shared SQL's ``?`` placeholders as psycopg's ``%s``."""
    if "%" in sql:  # psycopg would read it as a placeholder
        raise ValueError(f"a literal % in shared SQL: {sql}")
    return sql.replace("?", "%s")


class _PostgresTransaction:
    """The statements of one transaction, with unique violations raised as ``Duplicate``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor[tuple[Any, ...]]:
        """See ``Transaction.execute``."""
        try:
            return self._conn.execute(_dialect(sql), args)
        except psycopg.errors.UniqueViolation as err:
            raise Duplicate(err.diag.message_primary or str(err)) from err


class PostgresDatabase:
    """One connection to a PostgreSQL database, shared by a process's threads under a lock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._password = ""
        try:
            self._password = urlsplit(url).password or ""
            params = psycopg.conninfo.conninfo_to_dict(url)
        except (ValueError, psycopg.Error) as err:
            raise StoreError(
                f"not a usable PostgreSQL URL: {self._scrub(str(err))}",
                hint="give it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
            ) from None
        self._password = str(params.get("password") or self._password)
        host = str(params.get("host") or "localhost")
        self.location = f"{host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"
        self._options: dict[str, Any] = {"autocommit": False}
        if "connect_timeout" not in params:
            self._options["connect_timeout"] = _CONNECT_TIMEOUT_S
        if "application_name" not in params:
            self._options["application_name"] = "shipyard"
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._closed = False
        with self._lock:
            conn = self._connection()
            try:
                self._open(conn)
            except psycopg.Error as err:
                self._rollback(conn)
                raise self._failed(err, conn) from err
            except BaseException:
                self._drop()  # refused: nothing was written, and nothing more will be
                raise

    # -- connection ------------------------------------------------------------------

    def _connection(self) -> Connection:
        """The open connection, (re)connecting when there is none or it broke."""
        if self._closed:
            raise StoreError(f"the metadata store at {self.location} was closed")
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._drop()
        try:
            conn = psycopg.connect(self.url, **self._options)
        except psycopg.Error as err:
            raise self._unreachable(err) from None
        self._conn = conn
        return conn

    def _drop(self) -> None:
        """Forget the connection (closing it if it is still open)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error):  # a dead one may fail to; it is gone
                conn.close()

    def _rollback(self, conn: Connection) -> None:
        """End a failed transaction; a dead connection is dropped, to be opened again."""
        if not conn.broken and not conn.closed:
            try:
                conn.rollback()
                return
            except psycopg.Error:
                pass
        self._drop()

    # -- opening: refuse, then migrate ----------------------------------------------

    def _open(self, conn: Connection) -> None:
        """Refuse a foreign or newer database, then bring the schema up to date."""
        version = self._schema_version(conn)
        conn.commit()
        if version == SCHEMA_VERSION:
            return
        conn.execute(_LOCK_SQL)
        version = self._schema_version(conn)  # re-read under the lock: another may have migrated
        if version == 0:
            conn.execute(SCHEMA_TABLE)
            conn.execute(
                "INSERT INTO shipyard_schema (application, version) VALUES (%s, 0)",
                (APPLICATION,),
            )
        for statements in MIGRATIONS[version:]:
            for sql in statements:
                conn.execute(sql)
        conn.execute("UPDATE shipyard_schema SET version = %s", (SCHEMA_VERSION,))
        conn.commit()

    def _schema_version(self, conn: Connection) -> int:
        """The migrations applied (0 for an empty database); ``StoreError`` for a database
        that is not Shipyard's or is newer than this Shipyard."""
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
            ).fetchall()
        }
        if not tables:
            return 0
        row = None
        if "shipyard_schema" in tables:
            row = conn.execute("SELECT application, version FROM shipyard_schema").fetchone()
        if row is None or row[0] != APPLICATION:
            raise StoreError(
                f"the PostgreSQL database {self.location} is not empty and not a Shipyard "
                "metadata store",
                hint="give Shipyard a database (or schema) of its own, e.g. `createdb shipyard`; "
                "this one was left untouched",
            )
        version = int(row[1])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the metadata store {self.location} has schema version {version}, newer than "
                f"this Shipyard understands (up to {SCHEMA_VERSION})",
                hint="upgrade Shipyard (pip install -U shipyard); the database was left untouched",
            )
        return version

    # -- the Database protocol ---------------------------------------------------------

    def _begin(self) -> Connection:
        """A connection in a new transaction that holds the writer lock.

        The lock is the transaction's first statement, so a connection found dead here
        (the server restarted since the last call) is replaced and the lock taken again.
        """
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.execute(_LOCK_SQL)
                return conn
            except psycopg.Error as err:
                lost = conn.broken
                self._rollback(conn)
                if not lost or attempt == 2:
                    raise self._failed(err, conn) from err
        raise AssertionError("unreachable")  # the loop returns or raises

    @contextmanager
    def tx(self) -> Iterator[_PostgresTransaction]:
        """One write transaction, holding the writer lock from its first statement."""
        with self._lock:
            conn = self._begin()
            try:
                yield _PostgresTransaction(conn)
            except (psycopg.Error, Duplicate) as err:
                self._rollback(conn)
                raise self._failed(err, conn) from err
            except BaseException:
                self._rollback(conn)
                raise
            try:
                conn.commit()
            except psycopg.Error as err:
                self._rollback(conn)
                raise self._failed(err, conn, committing=True) from err

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return every row (read again on a new connection
        when the old one turns out dead)."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    rows = conn.execute(_dialect(sql), args).fetchall()
                    conn.commit()
                    return rows
                except psycopg.Error as err:
                    lost = conn.broken
                    self._rollback(conn)
                    if not lost or attempt == 2:
                        raise self._failed(err, conn) from err
            raise AssertionError("unreachable")  # the loop returns or raises

    def json_field(self, column: str, key: str) -> str:
        """See ``Database.json_field``."""
        return f"({column}::jsonb ->> '{key}')"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._closed = True
            self._drop()

    # -- errors --------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """``text`` without the password, in one line."""
        if self._password:
            text = text.replace(self._password, "***")
        return " ".join(text.split())

    def _reason(self, err: Exception) -> str:
        diag = getattr(err, "diag", None)
        primary = diag.message_primary if diag is not None else None
        return self._scrub(primary or str(err))

    def _unreachable(self, err: psycopg.Error) -> StoreError:
        """The error for a connection that could not be made."""
        reason = self._reason(err)
        host_port = self.location.split("/", 1)[0]
        if "authentication" in reason or "password" in reason or "role" in reason:
            hint = (
                "check the user name and password in the URL (or PGPASSWORD, ~/.pgpass) and "
                "that the server's pg_hba.conf lets this user in"
            )
        elif "database" in reason and "does not exist" in reason:
            hint = "create the database (`createdb NAME`) or fix its name in the URL"
        else:
            hint = (
                f"check that PostgreSQL is running and accepts connections at {host_port} "
                "(listen_addresses, port, firewall) and that the URL names the right host"
            )
        return StoreError(
            f"cannot connect to the PostgreSQL metadata store at {self.location}: {reason}",
            hint=hint,
        )

    def _failed(self, err: Exception, conn: Connection, *, committing: bool = False) -> StoreError:
        """The error for a statement or commit that failed on ``conn`` (rolled back)."""
        reason = self._reason(err)
        if conn.broken:
            return StoreError(
                f"lost the connection to the PostgreSQL metadata store at {self.location}: "
                f"{reason}",
                hint=(
                    "the change may or may not have been saved: check before retrying"
                    if committing
                    else "nothing was changed; check that PostgreSQL is up, then retry "
                    "(the connection is opened again on the next call)"
                ),
            )
        if isinstance(
            err, psycopg.errors.InsufficientPrivilege | psycopg.errors.ReadOnlySqlTransaction
        ):
            return StoreError(
                f"the metadata store {self.location} cannot be written: {reason}",
                hint="check that the URL's user may create and write tables in the database "
                "and that the server is not a read-only standby",
            )
        return StoreError(
            f"the PostgreSQL metadata store at {self.location} refused the change: {reason}",
            hint="nothing was changed (the transaction was rolled back); the server's log "
            "may say more",
        )
