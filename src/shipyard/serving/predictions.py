"""The prediction log: every answered prediction, kept a while so feedback can be joined to it.

One SQLite file per deployment (WAL mode), shared by the server's worker
processes. The event loop only puts ``(request id, version, outputs, time)`` on
a bounded queue — a full queue drops the entry and counts it, it never blocks a
request — and one writer thread per worker wakes every ``FLUSH_S``, encodes what
is queued and inserts it in batches (a transaction per batch). The same thread prunes rows older
than the retention, and the oldest beyond the row limit, every ``PRUNE_S``.
A prediction is therefore in the file within about ``FLUSH_S`` of its answer,
whichever worker answered it; a reader that misses waits that long before
declaring it unknown (see ``feedback.py``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

log = logging.getLogger("shipyard.serve")

RETENTION_S = 7 * 86400.0
MAX_ROWS = 1_000_000
QUEUE_SIZE = 10_000  # entries waiting for the writer; beyond that, dropped and counted
FLUSH_S = 0.2
PRUNE_S = 60.0
BATCH = 1000  # rows per transaction at most
_ROWS_PER_INSERT = 200  # 800 parameters: under SQLite's oldest limit of 999
# a client may reuse an x-request-id: the first answer stays, so feedback is counted once
_INSERT = "INSERT OR IGNORE INTO predictions (request_id, version, outputs, at) VALUES "

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL,
    outputs TEXT NOT NULL,
    at REAL NOT NULL,
    feedback_at REAL
);
"""


@dataclass(frozen=True, slots=True)
class Logged:
    """One logged prediction."""

    request_id: str
    version: str
    outputs: Any  # the model's outputs as JSON data
    at: float  # seconds since the epoch
    feedback_at: float | None


def _connect(path: Path, wait_s: float = 10.0) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=wait_s, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
    # Turning a new file to WAL takes an exclusive lock without waiting on the busy handler:
    # the workers of a fresh deployment open the log at once, so the loser retries.
    deadline = time.monotonic() + wait_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(0.05)
    db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
    return db


class PredictionLog:
    """The worker's handle on the deployment's prediction log."""

    def __init__(
        self,
        path: Path,
        *,
        retention_s: float = RETENTION_S,
        max_rows: int = MAX_ROWS,
        queue_size: int = QUEUE_SIZE,
        flush_s: float = FLUSH_S,
        prune_s: float = PRUNE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retention_s = retention_s
        self.max_rows = max_rows
        self.flush_s = flush_s
        self.prune_s = prune_s
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._reader = _connect(path)
        self._reader.executescript(_SCHEMA)
        self._read_lock = threading.Lock()
        # A deque, not a queue.Queue: a Queue wakes its consumer on every put, and a
        # thread woken per request fights the event loop for the GIL (measured: -16 %
        # req/s on digits). The writer wakes every flush_s and takes everything.
        self._pending: deque[tuple[str, str, Any, float]] = deque()
        self._size = queue_size
        self._queued = 0  # entries put so far (the event loop's count)
        self._done = 0  # entries written or given up on (the writer's count)
        self._progress = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._write, name="prediction-log", daemon=True)
        self._thread.start()

    def record(self, request_id: str, version: str, outputs: Any) -> bool:
        """Queue one answered prediction; False when the queue is full (it is dropped).

        One producer (the event loop) and one consumer that only shortens the deque:
        the length check cannot let it grow past ``queue_size``."""
        if len(self._pending) >= self._size:
            return False
        self._pending.append((request_id, version, outputs, self.clock()))
        self._queued += 1
        return True

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything queued so far is in the file (tests, shutdown)."""
        target = self._queued
        self._wake.set()
        with self._progress:
            self._progress.wait_for(lambda: self._done >= target, timeout)

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)
        self._reader.close()

    def lookup(self, request_id: str) -> Logged | None:
        """The logged prediction of ``request_id`` (blocking: call it off the event loop)."""
        with self._read_lock:
            row = self._reader.execute(
                "SELECT request_id, version, outputs, at, feedback_at FROM predictions "
                "WHERE request_id = ?",
                (request_id,),
            ).fetchone()
        if row is None:
            return None
        return Logged(row[0], row[1], orjson.loads(row[2]), row[3], row[4])

    def claim(self, request_id: str) -> bool:
        """Mark the prediction as given feedback; False if it already was (by any worker)."""
        with self._read_lock:
            cursor = self._reader.execute(
                "UPDATE predictions SET feedback_at = ? "
                "WHERE request_id = ? AND feedback_at IS NULL",
                (self.clock(), request_id),
            )
        return cursor.rowcount == 1

    def expired(self, logged: Logged) -> bool:
        """Whether a prediction is older than the retention (pruned or about to be)."""
        return logged.at < self.clock() - self.retention_s

    def prune(self) -> int:
        """Delete rows past the retention age or beyond the row limit; how many went."""
        with self._read_lock:
            return self._prune(self._reader)

    def count(self) -> int:
        """Rows in the log."""
        with self._read_lock:
            return int(self._reader.execute("SELECT count(*) FROM predictions").fetchone()[0])

    def _prune(self, db: sqlite3.Connection) -> int:
        # Rows are appended in time order (within a flush interval), so the expired ones
        # are those before the first that is not: found by walking seq from the start,
        # without an index on ``at`` that every insert would pay for (~0.8 µs a row).
        old = db.execute(
            "DELETE FROM predictions WHERE seq < coalesce("
            "(SELECT seq FROM predictions WHERE at >= ? ORDER BY seq LIMIT 1), "
            "(SELECT max(seq) + 1 FROM predictions))",
            (self.clock() - self.retention_s,),
        ).rowcount
        cut = db.execute(
            "SELECT seq FROM predictions ORDER BY seq DESC LIMIT 1 OFFSET ?", (self.max_rows,)
        ).fetchone()
        over = 0
        if cut is not None:
            over = db.execute("DELETE FROM predictions WHERE seq <= ?", (cut[0],)).rowcount
        return int(old) + int(over)

    def _write(self) -> None:
        """The writer thread: every ``flush_s``, what is queued, in transactions of up to
        ``BATCH`` rows; pruning first, then every ``prune_s``."""
        db = _connect(self.path)
        next_prune = time.monotonic()  # first thing: a restarted server may find old rows
        while True:
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.prune_s  # failed or not: not again at once
                try:
                    self._prune(db)
                except sqlite3.Error as err:
                    log.warning("prediction log %s: pruning: %s", self.path, err)
            stopping = self._stopping
            while self._pending:
                rows = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
                try:
                    self._insert(db, rows)
                except sqlite3.Error as err:  # a full disk, a locked file: say so, keep serving
                    log.warning("prediction log %s: %d rows lost: %s", self.path, len(rows), err)
                with self._progress:
                    self._done += len(rows)
                    self._progress.notify_all()
            if stopping:
                break
            self._wake.wait(max(0.0, min(self.flush_s, next_prune - time.monotonic())))
            self._wake.clear()
        db.close()

    @staticmethod
    def _insert(db: sqlite3.Connection, rows: list[tuple[str, str, Any, float]]) -> None:
        """One transaction; rows go in statements of many rows each, because every
        statement releases and retakes the GIL (one per row, as ``executemany`` does,
        was twice the cost and contended with the event loop)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                part = rows[start : start + _ROWS_PER_INSERT]
                values: list[Any] = []
                for rid, version, outputs, at in part:
                    values += (rid, version, _encode(outputs), at)
                db.execute(_INSERT + ",".join(["(?, ?, ?, ?)"] * len(part)), values)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _encode(outputs: Any) -> str:
    """The model's outputs as JSON (``null`` for outputs JSON cannot hold)."""
    try:
        return orjson.dumps(outputs, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:  # orjson.JSONEncodeError: e.g. a non-contiguous array
        pass
    try:
        return orjson.dumps(np.asarray(outputs).tolist()).decode()
    except (TypeError, ValueError):
        return "null"
