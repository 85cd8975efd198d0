"""The alert store (monitors, alert states) in SQL, over any ``Database``."""

from __future__ import annotations

import math
from typing import Any

from shipyard import jsonio
from shipyard.clock import utc_now
from shipyard.store.alerts import AlertStateRecord
from shipyard.store.sql.database import Database, Transaction
from shipyard.store.sql.events import insert_event

_STATE_COLUMNS = "deployment, rule, state, active_since, value, episode, updated_at"


def _subject(c: Transaction, deployment: str) -> tuple[str | None, int | None]:
    row = c.execute("SELECT model, stable FROM deployments WHERE name = ?", (deployment,))
    found = row.fetchone()
    return (found[0], found[1]) if found else (None, None)


def _real(value: float | None) -> float | None:
    """A float column's value: NaN is stored as NULL (SQLite does so itself; PostgreSQL
    would keep NaN, and the engines must read back alike)."""
    return None if value is None or math.isnan(value) else value


class SqlAlertStore:
    """Monitors and alert states in the metadata database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def set_monitor(self, deployment: str, config: dict[str, Any], actor: str) -> None:
        """See ``AlertStore.set_monitor``."""
        now = utc_now()
        rules = [r["name"] for r in config.get("rules", [])]
        kept = [*rules, "MetricsUnavailable"]  # Shipyard's own rule stays with the deployment
        with self._db.tx() as c:
            c.execute(
                "INSERT INTO monitors (deployment, config, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (deployment) DO UPDATE SET config = excluded.config, "
                "updated_at = excluded.updated_at",
                (deployment, jsonio.dumps(config, sort_keys=True).decode(), now),
            )
            c.execute(
                "DELETE FROM alert_states WHERE deployment = ? "
                f"AND rule NOT IN ({', '.join('?' * len(kept))})",
                (deployment, *kept),
            )
            model, version = _subject(c, deployment)
            data = {"deployment": deployment, "rules": rules}
            insert_event(c, "monitor.set", actor, model, version, data, now)

    def get_monitor(self, deployment: str) -> dict[str, Any] | None:
        """See ``AlertStore.get_monitor``."""
        rows = self._db.query("SELECT config FROM monitors WHERE deployment = ?", (deployment,))
        return jsonio.loads(rows[0][0]) if rows else None

    def list_monitors(self) -> dict[str, dict[str, Any]]:
        """See ``AlertStore.list_monitors``."""
        rows = self._db.query("SELECT deployment, config FROM monitors ORDER BY deployment")
        return {name: jsonio.loads(config) for name, config in rows}

    def alert_states(self, deployment: str | None = None) -> list[AlertStateRecord]:
        """See ``AlertStore.alert_states``."""
        sql = f"SELECT {_STATE_COLUMNS} FROM alert_states"
        args: tuple[Any, ...] = ()
        if deployment is not None:
            sql, args = sql + " WHERE deployment = ?", (deployment,)
        rows = self._db.query(sql + " ORDER BY deployment, rule", args)
        return [AlertStateRecord(*row) for row in rows]

    def save_alert(
        self, state: AlertStateRecord, kind: str, actor: str, data: dict[str, Any]
    ) -> None:
        """See ``AlertStore.save_alert``."""
        now = utc_now()
        with self._db.tx() as c:
            c.execute(
                f"INSERT INTO alert_states ({_STATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (deployment, rule) DO UPDATE SET state = excluded.state, "
                "active_since = excluded.active_since, value = excluded.value, "
                "episode = excluded.episode, updated_at = excluded.updated_at",
                (
                    state.deployment,
                    state.rule,
                    state.state,
                    _real(state.active_since),
                    _real(state.value),
                    state.episode,
                    now,
                ),
            )
            model, version = _subject(c, state.deployment)
            event = {"deployment": state.deployment, "rule": state.rule, **data}
            insert_event(c, kind, actor, model, version, event, now)

    def alert_event(self, kind: str, actor: str, deployment: str, data: dict[str, Any]) -> None:
        """See ``AlertStore.alert_event``."""
        with self._db.tx() as c:
            model, version = _subject(c, deployment)
            event = {"deployment": deployment, **data}
            insert_event(c, kind, actor, model, version, event, utc_now())
