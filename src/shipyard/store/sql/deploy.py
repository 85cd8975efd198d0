"""The deploy store (deployments, rollouts, server processes) in SQL, over any ``Database``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shipyard import jsonio
from shipyard.clock import utc_now
from shipyard.errors import ConflictError, NotFoundError
from shipyard.store.deployments import (
    AliasChange,
    DeploymentRecord,
    Desired,
    ProcessRecord,
    RolloutRecord,
)
from shipyard.store.sql.database import Database, Duplicate, Transaction
from shipyard.store.sql.events import insert_event
from shipyard.store.sql.metadata import write_alias_move

_DEPLOYMENT_COLUMNS = (
    "name, model, target, host, port, replicas, alias, rollback_window, options, desired, "
    "stable, history, generation, created_at, updated_at"
)
_ROLLOUT_COLUMNS = (
    "id, deployment, strategy, from_version, to_version, plan, state, step, step_started_at, "
    "baseline, analysis, error, actor, reason, started_at, finished_at"
)
_PROCESS_COLUMNS = "deployment, pid, boot_id, port, admin_socket, token_file, log, started_at"


def _dumps(value: Any) -> str:
    return jsonio.dumps(value, sort_keys=True).decode()


def _deployment(row: tuple[Any, ...]) -> DeploymentRecord:
    values = list(row)
    values[8] = jsonio.loads(values[8])
    values[9] = Desired(**jsonio.loads(values[9]))
    values[11] = tuple(jsonio.loads(values[11]))
    return DeploymentRecord(*values)


def _deployment_row(d: DeploymentRecord) -> tuple[Any, ...]:
    return (
        d.name,
        d.model,
        d.target,
        d.host,
        d.port,
        d.replicas,
        d.alias,
        d.rollback_window,
        _dumps(d.options),
        _dumps(d.desired),
        d.stable,
        _dumps(list(d.history)),
        d.generation,
        d.created_at,
        d.updated_at,
    )


def _rollout(row: tuple[Any, ...]) -> RolloutRecord:
    values = list(row)
    for i in (5, 9, 10):
        values[i] = jsonio.loads(values[i])
    return RolloutRecord(*values)


def _rollout_row(r: RolloutRecord) -> tuple[Any, ...]:
    return (
        r.deployment,
        r.strategy,
        r.from_version,
        r.to_version,
        _dumps(r.plan),
        r.state,
        r.step,
        r.step_started_at,
        _dumps(r.baseline),
        _dumps(r.analysis),
        r.error,
        r.actor,
        r.reason,
        r.started_at,
        r.finished_at,
    )


class SqlDeployStore:
    """Deployments, rollouts and processes in the metadata database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_deployment(self, record: DeploymentRecord, actor: str, reason: str) -> None:
        """See ``DeployStore.create_deployment``."""
        with self._db.tx() as c:
            try:
                c.execute(
                    f"INSERT INTO deployments ({_DEPLOYMENT_COLUMNS}) "
                    f"VALUES ({', '.join('?' * 15)})",
                    _deployment_row(record),
                )
            except Duplicate:
                raise ConflictError(f"deployment {record.name!r} already exists") from None
            insert_event(
                c,
                "deployment.created",
                actor,
                record.model,
                record.stable,
                {"deployment": record.name, "reason": reason, "after": _summary(record)},
                utc_now(),
            )

    def get_deployment(self, name: str) -> DeploymentRecord:
        """See ``DeployStore.get_deployment``."""
        rows = self._db.query(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE name = ?", (name,)
        )
        if not rows:
            known = [r.name for r in self.list_deployments()]
            raise NotFoundError(
                f"no deployment named {name!r}",
                hint=f"deployments: {', '.join(known)}"
                if known
                else "create one with `shipyard deploy MODEL --version N`",
            )
        return _deployment(rows[0])

    def list_deployments(self) -> list[DeploymentRecord]:
        """See ``DeployStore.list_deployments``."""
        rows = self._db.query(f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments ORDER BY name")
        return [_deployment(r) for r in rows]

    def delete_deployment(self, name: str, actor: str, reason: str) -> None:
        """See ``DeployStore.delete_deployment``."""
        record = self.get_deployment(name)
        with self._db.tx() as c:
            c.execute("DELETE FROM deployment_processes WHERE deployment = ?", (name,))
            c.execute(
                "UPDATE rollouts SET state = 'aborted', finished_at = ? "
                "WHERE deployment = ? AND finished_at IS NULL",
                (utc_now(), name),
            )
            c.execute("DELETE FROM deployments WHERE name = ?", (name,))
            c.execute("DELETE FROM monitors WHERE deployment = ?", (name,))
            c.execute("DELETE FROM alert_states WHERE deployment = ?", (name,))
            insert_event(
                c,
                "deployment.deleted",
                actor,
                record.model,
                record.stable,
                {"deployment": name, "reason": reason, "before": _summary(record)},
                utc_now(),
            )

    def record(
        self,
        kind: str,
        actor: str,
        reason: str,
        *,
        deployment: DeploymentRecord | None = None,
        rollout: RolloutRecord | None = None,
        data: dict[str, Any] | None = None,
        alias: AliasChange | None = None,
    ) -> tuple[DeploymentRecord | None, RolloutRecord | None]:
        """See ``DeployStore.record``."""
        event: dict[str, Any] = {"reason": reason, **(data or {})}
        now = utc_now()
        with self._db.tx() as c:
            if deployment is not None:
                deployment, before = self._save_deployment(c, deployment, now)
                event.setdefault("deployment", deployment.name)
                if before != _summary(deployment):
                    event["before"], event["after"] = before, _summary(deployment)
            if rollout is not None:
                rollout = self._save_rollout(c, rollout)
                event.setdefault("deployment", rollout.deployment)
                event["rollout"] = {
                    "id": rollout.id,
                    "strategy": rollout.strategy,
                    "state": rollout.state,
                    "step": rollout.step,
                    "from_version": rollout.from_version,
                    "to_version": rollout.to_version,
                }
            model, version = self._subject(c, event["deployment"], deployment, rollout)
            insert_event(c, kind, actor, model, version, event, now)
            if alias is not None and model is not None:
                write_alias_move(
                    c,
                    model,
                    alias.alias,
                    alias.version,
                    action=alias.action,
                    actor=actor,
                    reason=alias.reason,
                    now=now,
                )
        return deployment, rollout

    def _subject(
        self,
        c: Transaction,
        name: str,
        deployment: DeploymentRecord | None,
        rollout: RolloutRecord | None,
    ) -> tuple[str | None, int | None]:
        if deployment is None:
            row = c.execute("SELECT model, stable FROM deployments WHERE name = ?", (name,))
            found = row.fetchone()
            model, stable = found if found else (None, None)
        else:
            model, stable = deployment.model, deployment.stable
        return model, rollout.to_version if rollout is not None else stable

    def _save_deployment(
        self, c: Transaction, d: DeploymentRecord, now: str
    ) -> tuple[DeploymentRecord, dict[str, Any]]:
        row = c.execute(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE name = ?", (d.name,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no deployment named {d.name!r}")
        stored = _deployment(row)
        if stored.generation != d.generation:
            raise ConflictError(
                f"deployment {d.name!r} changed while this command ran",
                hint="check `shipyard status` and run the command again",
            )
        saved = replace(d, generation=d.generation + 1, updated_at=now)
        c.execute(
            f"UPDATE deployments SET ({_DEPLOYMENT_COLUMNS}) = ({', '.join('?' * 15)}) "
            "WHERE name = ?",
            (*_deployment_row(saved), d.name),
        )
        return saved, _summary(stored)

    def _save_rollout(self, c: Transaction, r: RolloutRecord) -> RolloutRecord:
        if r.id:
            c.execute(
                f"UPDATE rollouts SET ({_ROLLOUT_COLUMNS}) = (?, {', '.join('?' * 15)}) "
                "WHERE id = ?",
                (r.id, *_rollout_row(r), r.id),
            )
            return r
        # Read before the insert (writers are serialized, so nothing slips in between):
        # after a unique violation PostgreSQL would refuse this read in the same transaction.
        active = c.execute(
            "SELECT strategy, to_version, state, step FROM rollouts "
            "WHERE deployment = ? AND finished_at IS NULL",
            (r.deployment,),
        ).fetchone()
        if active is None:
            try:
                row = c.execute(
                    f"INSERT INTO rollouts ({_ROLLOUT_COLUMNS.removeprefix('id, ')}) "
                    f"VALUES ({', '.join('?' * 15)}) RETURNING id",
                    _rollout_row(r),
                ).fetchone()
            except Duplicate:  # the unique index still guards against a writer without the lock
                active = ("?", "?", "?", 0)
            else:
                return replace(r, id=int(row[0]))
        strategy, version, state, step = active
        raise ConflictError(
            f"deployment {r.deployment!r} has a rollout in progress ({strategy} to "
            f"v{version}, {state}, step {step + 1}); nothing was changed",
            hint=f"wait for it (`shipyard status {r.deployment} --watch`), or end it with "
            f"`shipyard promote {r.deployment}` or `shipyard abort {r.deployment}`",
        )

    def active_rollout(self, deployment: str) -> RolloutRecord | None:
        """See ``DeployStore.active_rollout``."""
        rows = self._db.query(
            f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE deployment = ? AND finished_at IS NULL",
            (deployment,),
        )
        return _rollout(rows[0]) if rows else None

    def list_rollouts(self, deployment: str, limit: int = 20) -> list[RolloutRecord]:
        """See ``DeployStore.list_rollouts``."""
        rows = self._db.query(
            f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE deployment = ? ORDER BY id DESC "
            "LIMIT ?",
            (deployment, limit),
        )
        return [_rollout(r) for r in rows]

    def get_process(self, deployment: str) -> ProcessRecord | None:
        """See ``DeployStore.get_process``."""
        rows = self._db.query(
            f"SELECT {_PROCESS_COLUMNS} FROM deployment_processes WHERE deployment = ?",
            (deployment,),
        )
        return ProcessRecord(*rows[0]) if rows else None

    def set_process(
        self, deployment: str, process: ProcessRecord | None, kind: str, actor: str, reason: str
    ) -> None:
        """See ``DeployStore.set_process``."""
        with self._db.tx() as c:
            c.execute("DELETE FROM deployment_processes WHERE deployment = ?", (deployment,))
            data: dict[str, Any] = {"deployment": deployment, "reason": reason}
            if process is not None:
                c.execute(
                    f"INSERT INTO deployment_processes ({_PROCESS_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        process.deployment,
                        process.pid,
                        process.boot_id,
                        process.port,
                        process.admin_socket,
                        process.token_file,
                        process.log,
                        process.started_at,
                    ),
                )
                data.update(pid=process.pid, port=process.port)
            model, version = self._subject(c, deployment, None, None)
            insert_event(c, kind, actor, model, version, data, utc_now())


def _summary(d: DeploymentRecord) -> dict[str, Any]:
    """What an event shows of a deployment before and after a change."""
    return {
        "stable": d.stable,
        "weights": d.desired.weights,
        "shadow": d.desired.shadow,
        "warm": sorted(d.desired.warm, key=int),
    }
