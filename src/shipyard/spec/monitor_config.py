"""A deployment's monitor: its alert rules, where alerts go, and the actions' settings.

It comes from the project's ``monitor:`` section, is attached to a deployment when
the project deploys it (``shipyard deploy`` in the project, or ``shipyard run``),
and is stored with the deployment so the control plane watches it from then on.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import jsonio
from shipyard.expressions.alert_rules import AlertRule, alert_rule

if TYPE_CHECKING:
    from shipyard.spec.schema import MonitorSpec


@dataclass(frozen=True, slots=True)
class Channel:
    """A webhook alerts are posted to."""

    webhook: str
    format: str = "json"  # json, slack or alertmanager
    timeout: float = 5.0
    retries: int = 4
    send_resolved: bool = True


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Everything the control plane needs to watch one deployment."""

    rules: tuple[AlertRule, ...] = ()
    channels: tuple[Channel, ...] = ()
    cooldown: float = 600.0
    unavailable_after: float = 60.0
    prometheus_url: str | None = None
    project: str | None = None  # the project's directory: `retrain` runs its pipeline there
    evaluation_interval: float = 15.0  # with prometheus_url

    def rule(self, name: str) -> AlertRule | None:
        """The rule of that name, if any."""
        return next((r for r in self.rules if r.name == name), None)

    def to_data(self) -> dict[str, Any]:
        """As stored with the deployment and sent over the API."""
        return {
            "rules": [
                {
                    "name": r.name,
                    "when": r.when,
                    "window": r.window,
                    "for": r.for_,
                    "severity": r.severity,
                    "labels": r.labels,
                    "actions": list(r.actions),
                }
                for r in self.rules
            ],
            "channels": [asdict(c) for c in self.channels],
            "cooldown": self.cooldown,
            "unavailable_after": self.unavailable_after,
            "prometheus_url": self.prometheus_url,
            "project": self.project,
            "evaluation_interval": self.evaluation_interval,
        }


def config_digest(data: dict[str, Any]) -> str:
    """The digest of a monitor config's stored form (``MonitorConfig.to_data``).

    A deployment's status reports the digest of the monitor it holds, so a project about
    to attach its rules can tell that the control plane holds exactly these already.
    """
    return f"sha256:{hashlib.sha256(jsonio.dumps(data, sort_keys=True)).hexdigest()}"


def monitor_config(data: dict[str, Any]) -> MonitorConfig:
    """A config from its stored (or posted) form; every rule is checked again."""
    rules = tuple(
        alert_rule(
            r["name"],
            r["when"],
            window=float(r.get("window", 300.0)),
            for_=float(r.get("for", 0.0)),
            severity=r.get("severity", "warning"),
            labels=r.get("labels") or {},
            actions=tuple(r.get("actions", ("notify",))),
        )
        for r in data.get("rules", [])
    )
    channels = tuple(Channel(**c) for c in data.get("channels", []))
    return MonitorConfig(
        rules,
        channels,
        float(data.get("cooldown", 600.0)),
        float(data.get("unavailable_after", 60.0)),
        data.get("prometheus_url"),
        data.get("project"),
        float(data.get("evaluation_interval", 15.0)),
    )


def from_spec(spec: MonitorSpec, project: str | None) -> MonitorConfig:
    """The monitor a project's ``monitor:`` section describes (``project``: its directory,
    where ``retrain`` runs the pipeline)."""
    return MonitorConfig(
        tuple(a.rule() for a in spec.alerts),
        tuple(
            Channel(n.webhook, n.format, n.timeout, n.retries, n.send_resolved) for n in spec.notify
        ),
        spec.cooldown,
        spec.unavailable_after,
        spec.prometheus_url,
        project,
        spec.evaluation_interval,
    )


def monitor_section(spec: MonitorSpec) -> dict[str, Any]:
    """A ``monitor:`` section as JSON, as the attach request sends it."""
    return spec.model_dump(mode="json", by_alias=True)


def attach_call(
    deployment: str, section: dict[str, Any], project: Path
) -> tuple[str, str, dict[str, Any]]:
    """The API call (method, path, body) that has a project's ``monitor:`` section (as
    ``monitor_section`` gives it) watch a deployment: ``client.call(*attach_call(...))``."""
    return "PUT", f"deployments/{deployment}/monitor", {"monitor": section, "project": str(project)}
