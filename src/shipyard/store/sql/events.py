"""The event log's one write: every store appends its events with ``insert_event``."""

from __future__ import annotations

from typing import Any

from shipyard import jsonio
from shipyard.store.sql.database import Transaction


def insert_event(
    c: Transaction,
    kind: str,
    actor: str,
    model: str | None,
    version: int | None,
    data: dict[str, Any],
    at: str,
) -> int:
    """Append an event inside the caller's transaction; returns its id."""
    row = c.execute(
        "INSERT INTO events (at, actor, kind, model, version, data) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (at, actor, kind, model, version, jsonio.dumps(data, sort_keys=True).decode()),
    ).fetchone()
    return int(row[0])
