"""Monitoring records: each deployment's monitor (rules, channels, actions' settings)
and where each of its alerts stands, kept so a restarted control plane carries on.

Alert history is the event log: every transition, notification and action is an
``alert.*`` event, appended in the same transaction as the state it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AlertStateRecord:
    """One rule's state on one deployment."""

    deployment: str
    rule: str
    state: str  # inactive, pending, firing
    active_since: float | None  # epoch seconds the condition has held since
    value: float | None  # the metric at the last evaluation
    episode: int  # how many times it has fired: an action runs once per episode
    updated_at: str = ""


class AlertStore(Protocol):
    """Monitors and alert states; every change comes with its event."""

    def set_monitor(self, deployment: str, config: dict[str, Any], actor: str) -> None:
        """Attach (or replace) a deployment's monitor; states of rules it drops go."""
        ...

    def get_monitor(self, deployment: str) -> dict[str, Any] | None:
        """A deployment's monitor config, if it has one."""
        ...

    def list_monitors(self) -> dict[str, dict[str, Any]]:
        """Every deployment's monitor config, by deployment."""
        ...

    def alert_states(self, deployment: str | None = None) -> list[AlertStateRecord]:
        """Stored states, by deployment and rule."""
        ...

    def save_alert(
        self, state: AlertStateRecord, kind: str, actor: str, data: dict[str, Any]
    ) -> None:
        """Store a rule's new state and append its event in one transaction."""
        ...

    def alert_event(self, kind: str, actor: str, deployment: str, data: dict[str, Any]) -> None:
        """Append an ``alert.*`` event (a notification sent or failed, an action taken)."""
        ...
