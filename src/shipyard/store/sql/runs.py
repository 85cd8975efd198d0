"""The run store (pipeline runs, their stages, the stage cache) in SQL, over any ``Database``."""

from __future__ import annotations

import math
from typing import Any

from shipyard import jsonio
from shipyard.clock import utc_now
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.store.runs import CacheEntry, Run, StageRun
from shipyard.store.sql.database import Database, Transaction
from shipyard.store.sql.events import insert_event

_RUN_COLUMNS = (
    "id, project, model, status, started_at, finished_at, actor, trigger, git_commit, "
    "git_branch, git_dirty, params, error"
)
_STAGE_COLUMNS = (
    "name, status, fingerprint, started_at, finished_at, attempts, outputs, metrics, "
    "log_digest, error"
)


def _dumps(value: Any) -> str:
    return jsonio.dumps(value, sort_keys=True).decode()


def _metrics(text: str) -> dict[str, float]:
    """Metrics as stored: JSON has no NaN, so a NaN metric is stored as null and read back."""
    return {k: math.nan if v is None else v for k, v in jsonio.loads(text).items()}


def _stage(row: tuple[Any, ...]) -> StageRun:
    name, status, fingerprint, started, finished, attempts, outputs, metrics, log, error = row
    return StageRun(
        name,
        status,
        fingerprint,
        started,
        finished,
        attempts,
        jsonio.loads(outputs),
        _metrics(metrics),
        log,
        error,
    )


class SqlRunStore:
    """Runs in the metadata database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_run(self, run: Run) -> None:
        """See ``RunStore.create_run``."""
        with self._db.tx() as c:
            c.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.project,
                    run.model,
                    run.status,
                    run.started_at,
                    run.finished_at,
                    run.actor,
                    run.trigger,
                    run.git_commit,
                    run.git_branch,
                    None if run.git_dirty is None else int(run.git_dirty),
                    _dumps(run.params),
                    run.error,
                ),
            )
            for position, stage in enumerate(run.stages):
                self._write_stage(c, run.id, position, stage)
            insert_event(
                c,
                "run.started",
                run.actor,
                run.model,
                None,
                {
                    "run": run.id,
                    "trigger": run.trigger,
                    "git_commit": run.git_commit,
                    "stages": [s.name for s in run.stages],
                },
                run.started_at,
            )

    @staticmethod
    def _write_stage(c: Transaction, run_id: str, position: int | None, stage: StageRun) -> None:
        values = (
            stage.status,
            stage.fingerprint,
            stage.started_at,
            stage.finished_at,
            stage.attempts,
            _dumps(stage.outputs),
            _dumps(stage.metrics),
            stage.log_digest,
            stage.error,
        )
        if position is not None:
            c.execute(
                f"INSERT INTO run_stages (run_id, position, {_STAGE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, position, stage.name, *values),
            )
            return
        cur = c.execute(
            "UPDATE run_stages SET status = ?, fingerprint = ?, started_at = ?, finished_at = ?, "
            "attempts = ?, outputs = ?, metrics = ?, log_digest = ?, error = ? "
            "WHERE run_id = ? AND name = ?",
            (*values, run_id, stage.name),
        )
        if cur.rowcount != 1:
            raise NotFoundError(f"run {run_id} has no stage {stage.name!r}")

    def update_stage(self, run_id: str, stage: StageRun) -> None:
        """See ``RunStore.update_stage``."""
        with self._db.tx() as c:
            self._write_stage(c, run_id, None, stage)

    def finish_run(self, run_id: str, status: str, error: str | None) -> Run:
        """See ``RunStore.finish_run``."""
        now = utc_now()
        with self._db.tx() as c:
            c.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                (status, now, error, run_id),
            )
            row = c.execute("SELECT actor, model FROM runs WHERE id = ?", (run_id,)).fetchone()
            insert_event(
                c,
                "run.finished",
                row[0],
                row[1],
                None,
                {"run": run_id, "status": status, "error": error},
                now,
            )
        return self.get_run(run_id)

    def _stages(self, run_id: str) -> tuple[StageRun, ...]:
        rows = self._db.query(
            f"SELECT {_STAGE_COLUMNS} FROM run_stages WHERE run_id = ? ORDER BY position",
            (run_id,),
        )
        return tuple(_stage(row) for row in rows)

    def _run(self, row: tuple[Any, ...]) -> Run:
        values = dict(zip(_RUN_COLUMNS.split(", "), row, strict=True))  # columns = Run's fields
        dirty = values["git_dirty"]
        values["git_dirty"] = None if dirty is None else bool(dirty)
        values["params"] = jsonio.loads(values["params"])
        return Run(**values, stages=self._stages(values["id"]))

    def get_run(self, run_id: str) -> Run:
        """See ``RunStore.get_run``."""
        if not run_id or any(ch in run_id for ch in "%_"):
            raise InvalidInputError(f"invalid run id {run_id!r}")
        rows = self._db.query(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE id LIKE ? ORDER BY id LIMIT 2", (run_id + "%",)
        )
        if not rows:
            raise NotFoundError(f"no run {run_id!r}", hint="`shipyard runs list` shows recent runs")
        if len(rows) > 1:
            raise InvalidInputError(
                f"run id prefix {run_id!r} is ambiguous", hint="give more characters of the id"
            )
        return self._run(rows[0])

    def list_runs(self, *, project: str | None = None, limit: int = 20) -> list[Run]:
        """See ``RunStore.list_runs``."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        args: tuple[Any, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        rows = self._db.query(sql + " ORDER BY started_at DESC, id DESC LIMIT ?", (*args, limit))
        return [self._run(row) for row in rows]

    def cache_get(self, fingerprint: str) -> CacheEntry | None:
        """See ``RunStore.cache_get``."""
        rows = self._db.query(
            "SELECT fingerprint, stage, outputs, metrics, run_id, params FROM stage_cache "
            "WHERE fingerprint = ?",
            (fingerprint,),
        )
        if not rows:
            return None
        fp, stage, outputs, metrics, run_id, params = rows[0]
        return CacheEntry(
            fp, stage, jsonio.loads(outputs), _metrics(metrics), run_id, jsonio.loads(params)
        )

    def cache_put(self, entry: CacheEntry) -> None:
        """See ``RunStore.cache_put``."""
        with self._db.tx() as c:
            c.execute(
                "INSERT INTO stage_cache (fingerprint, stage, outputs, metrics, run_id, params, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
                (
                    entry.fingerprint,
                    entry.stage,
                    _dumps(entry.outputs),
                    _dumps(entry.metrics),
                    entry.run_id,
                    _dumps(entry.params),
                    utc_now(),
                ),
            )
