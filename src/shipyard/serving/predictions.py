"""The prediction log: every answered prediction, kept a while so feedback can be joined to it.

One SQLite file per deployment (WAL mode), shared by the server's worker
processes. The event loop only puts ``(request id, version, outputs, time)`` on
a bounded queue — a full queue drops the entry and counts it, it never blocks a
request — and one writer thread per worker encodes and inserts them in batches
(one transaction at most every ``FLUSH_S``). The same thread prunes rows older
than the retention, and the oldest beyond the row limit, every ``PRUNE_S``.
A prediction is therefore in the file within about ``FLUSH_S`` of its answer,
whichever worker answered it; a reader that misses waits that long before
declaring it unknown (see ``feedback.py``).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL,
    outputs TEXT NOT NULL,
    at REAL NOT NULL,
    feedback_at REAL
);
CREATE INDEX IF NOT EXISTS predictions_at ON predictions (at);
"""


@dataclass(frozen=True, slots=True)
class Logged:
    """One logged prediction."""

    request_id: str
    version: str
    outputs: Any  # the model's outputs as JSON data
    at: float  # seconds since the epoch
    feedback_at: float | None


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA journal_mode = WAL")
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
        self._queue: queue.Queue[tuple[str, str, Any, float] | None] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._write, name="prediction-log", daemon=True)
        self._thread.start()

    def record(self, request_id: str, version: str, outputs: Any) -> bool:
        """Queue one answered prediction; False when the queue is full (it is dropped)."""
        try:
            self._queue.put_nowait((request_id, version, outputs, self.clock()))
        except queue.Full:
            return False
        return True

    def flush(self) -> None:
        """Block until everything queued so far is in the file (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        self._queue.put(None)
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
        old = db.execute(
            "DELETE FROM predictions WHERE at < ?", (self.clock() - self.retention_s,)
        ).rowcount
        cut = db.execute(
            "SELECT seq FROM predictions ORDER BY seq DESC LIMIT 1 OFFSET ?", (self.max_rows,)
        ).fetchone()
        over = 0
        if cut is not None:
            over = db.execute("DELETE FROM predictions WHERE seq <= ?", (cut[0],)).rowcount
        return int(old) + int(over)

    def _write(self) -> None:
        """The writer thread: batches of rows, one transaction each; pruning now and then."""
        db = _connect(self.path)
        next_prune = time.monotonic()  # first thing: a restarted server may find old rows
        stopped = False
        while not stopped:
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.prune_s  # failed or not: not again at once
                try:
                    self._prune(db)
                except sqlite3.Error as err:
                    log.warning("prediction log %s: pruning: %s", self.path, err)
            items = self._collect(max(0.01, next_prune - time.monotonic()))
            rows = [item for item in items if item is not None]
            stopped = len(rows) < len(items)
            try:
                if rows:
                    self._insert(db, rows)
            except sqlite3.Error as err:  # a full disk, a locked file: say so, keep serving
                log.warning("prediction log %s: %s", self.path, err)
            finally:
                for _ in items:
                    self._queue.task_done()
        db.close()

    def _collect(self, idle_s: float) -> list[tuple[str, str, Any, float] | None]:
        """The next batch: the first entry within ``idle_s``, then whatever else arrives
        within ``flush_s`` of it (up to ``BATCH``); ``None`` (stop) ends a batch."""
        try:
            item = self._queue.get(timeout=idle_s)
        except queue.Empty:
            return []
        items = [item]
        deadline = time.monotonic() + self.flush_s
        while item is not None and len(items) < BATCH:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            items.append(item)
        return items

    @staticmethod
    def _insert(db: sqlite3.Connection, rows: list[tuple[str, str, Any, float]]) -> None:
        encoded = [(rid, version, _encode(outputs), at) for rid, version, outputs, at in rows]
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO predictions (request_id, version, outputs, at) "
                "VALUES (?, ?, ?, ?)",
                encoded,
            )
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
