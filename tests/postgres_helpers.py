"""A real PostgreSQL for tests: one server per session on 127.0.0.1, a fresh database per test.

    def test_something(postgres_url: str) -> None:
        stores = open_stores(home, metadata=postgres_url)

``scripts/postgres.sh`` installs the server binaries when they are missing (``make test``
runs it first). The server runs from a data directory of its own in /dev/shm (memory;
the temp directory where there is none), owned by the ``postgres`` user when the tests
run as root (PostgreSQL refuses to run as root), with trust authentication for the
``shipyard`` user on loopback only, and the ICU ``en-US`` collation as its default, as a
production server's locale would sort, so a test sees where that differs from SQLite's
byte order. When PostgreSQL cannot be installed or started, the tests that need it skip
with the reason, or fail when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[1]
USER = "shipyard"
# a server whose data is thrown away: no flushes, no crash safety, no replication
_THROWAWAY = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c wal_level=minimal -c max_wal_senders=0"
)


class PostgresUnavailable(Exception):
    """PostgreSQL could not be installed or started here."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running PostgreSQL: its binaries, data directory and port."""

    bin_dir: Path
    root: Path  # holds ``data/`` (with the socket and ``log``)
    port: int
    as_owner: list[str]  # the command prefix that runs a tool as the data directory's owner
    _databases: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """The URL of one of its databases."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection to the ``postgres`` database (close it after use)."""
        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"test_{next(self._databases)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever is still connected to it."""
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def log(self, lines: int = 30) -> str:
        """The end of the server's log, for failure messages."""
        with contextlib.suppress(OSError):
            text = (self.data / "log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        """Stop the server and delete its data."""
        pg_ctl = [*self.as_owner, str(self.bin_dir / "pg_ctl"), "-D", str(self.data)]
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _run(command: list[str], what: str) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise PostgresUnavailable(f"{what} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


def start_postgres() -> PostgresServer:
    """Install (if needed), initialize and start a PostgreSQL server on a free port."""
    script = REPO / "scripts" / "postgres.sh"
    bin_dir = Path(_run(["bash", str(script)], "scripts/postgres.sh").strip())
    shm = Path("/dev/shm")  # memory: making a database there takes a tenth of the time on disk
    root = Path(
        tempfile.mkdtemp(prefix="shipyard-pg-", dir=shm if os.access(shm, os.W_OK) else None)
    )
    as_owner: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no postgres user") from None
        shutil.chown(root, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    initdb = [*as_owner, str(bin_dir / "initdb"), "-D", str(root / "data"), "-A", "trust"]
    initdb += ["-U", USER, "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8"]
    try:
        _run([*initdb, "--locale-provider=icu", "--icu-locale=en-US"], "initdb")
    except PostgresUnavailable:  # a build without ICU: the libc locale then
        shutil.rmtree(root / "data", ignore_errors=True)
        _run(initdb, "initdb")
    failure = ""
    for _attempt in range(3):  # a free port can be taken before the server binds it
        server = PostgresServer(bin_dir, root, _free_port(), as_owner)
        options = f"-k {server.data} -h 127.0.0.1 -p {server.port} {_THROWAWAY}"
        start = [*as_owner, str(bin_dir / "pg_ctl"), "-D", str(server.data), "-o", options]
        start += ["-l", str(server.data / "log"), "-w", "-t", "30", "start"]
        try:
            _run(start, "pg_ctl start")
            return server
        except PostgresUnavailable as err:
            failure = f"{err}\n{server.log()}"
    shutil.rmtree(root, ignore_errors=True)
    raise PostgresUnavailable(failure)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skipped, or failed under CI, when it
    cannot be had)."""
    try:
        server = start_postgres()
    except PostgresUnavailable as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is needed under CI: {err}")
        pytest.skip(f"no PostgreSQL: {err}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database of its own for this test (dropped after it)."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
