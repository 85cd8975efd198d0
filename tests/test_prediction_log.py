"""The prediction log: batched writes from a bounded queue, shared by workers, pruned by age
and by row count."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.serving.predictions import PredictionLog, _connect


class Clock:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_prediction_logged_by_one_worker_is_found_by_another(tmp_path: Path) -> None:
    path = tmp_path / "predictions.sqlite"
    first, second = PredictionLog(path), PredictionLog(path)
    try:
        assert first.record("r1", "3", np.array([7, 2]))
        assert first.record("r2", "3", [[0.5]])
        first.flush()
        found = second.lookup("r1")
        assert found is not None and found.version == "3" and found.outputs == [7, 2]
        assert second.lookup("r2") is not None and second.lookup("nope") is None
        assert second.claim("r1") and not first.claim("r1")  # feedback counted once
        assert path.with_name(path.name + "-wal").exists()  # WAL mode
    finally:
        first.close()
        second.close()


def test_retention_prunes_rows_past_their_age_and_beyond_the_row_limit(tmp_path: Path) -> None:
    clock = Clock()
    log = PredictionLog(tmp_path / "p.sqlite", retention_s=3600, max_rows=5, clock=clock)
    try:
        for number in range(8):
            log.record(f"old-{number}", "1", [number])
        log.flush()
        assert log.count() == 8
        assert log.prune() == 3  # the oldest beyond 5 rows
        assert log.lookup("old-2") is None and log.lookup("old-3") is not None
        clock.now += 1800
        log.record("new", "1", [1])
        log.flush()
        found = log.lookup("old-7")
        assert found is not None and not log.expired(found)
        clock.now += 1801  # the old rows are past an hour, "new" is not
        assert log.expired(found)
        assert log.prune() == 5
        assert log.count() == 1 and log.lookup("new") is not None
    finally:
        log.close()


def test_the_writer_prunes_by_itself_every_prune_interval(tmp_path: Path) -> None:
    clock = Clock()
    log = PredictionLog(tmp_path / "p.sqlite", retention_s=60, prune_s=0.05, clock=clock)
    try:
        log.record("r", "1", [1])
        log.flush()
        assert log.count() == 1
        clock.now += 61
        deadline = time.monotonic() + 5
        while log.count() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.count() == 0
    finally:
        log.close()


def test_a_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.sqlite", queue_size=2, flush_s=0.5)
    try:
        started = time.perf_counter()
        accepted = [log.record(f"r{i}", "1", [i]) for i in range(50)]
        assert time.perf_counter() - started < 0.1
        assert not all(accepted)  # the writer holds a batch open for 0.5 s: the queue fills
        log.flush()
        assert log.count() == sum(accepted)
    finally:
        log.close()


def test_workers_opening_a_new_log_at_once_all_get_it(tmp_path: Path) -> None:
    """A fresh deployment's workers open its log together; switching a new file to WAL
    takes an exclusive lock that SQLite does not wait for, so one of them used to fail
    with 'database is locked'."""
    for round_ in range(20):
        path = tmp_path / f"log-{round_}.sqlite"
        barrier, failures = threading.Barrier(6), []

        def open_it(
            path: Path = path, barrier: threading.Barrier = barrier, failures: list[Any] = failures
        ) -> None:
            barrier.wait()
            try:
                _connect(path).close()
            except Exception as err:
                failures.append(err)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == [], failures
