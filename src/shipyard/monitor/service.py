"""What the REST API (and so the CLI) asks of monitoring: attach a project's monitor to a
deployment, list the rules and where each stands, read the alert history, and send
a test alert through every channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.expressions.alert_rules import UNAVAILABLE
from shipyard.monitor.alerting import Alerting
from shipyard.outbound import shown
from shipyard.spec.monitor_config import from_spec
from shipyard.spec.schema import MonitorSpec
from shipyard.store import Stores


class MonitorService:
    """Monitoring's use cases over the stores and the running evaluator."""

    def __init__(self, stores: Stores, alerting: Alerting) -> None:
        self.stores = stores
        self.alerting = alerting

    def attach(self, deployment: str, spec: MonitorSpec, project: str | None, actor: str) -> Any:
        """Watch a deployment with the rules and channels of a ``monitor:`` section."""
        self.stores.deploy.get_deployment(deployment)  # 404 for an unknown one
        if project is not None and not Path(project).is_absolute():
            raise InvalidInputError(f"project {project!r}: give an absolute path")
        config = from_spec(spec, project)
        self.stores.alerts.set_monitor(deployment, config.to_data(), actor)
        every = (
            config.evaluation_interval if config.prometheus_url else self.alerting.scraper.interval
        )
        warnings = [
            f"{r.name}: a window of {r.window:g} s holds fewer than two samples taken every "
            f"{every:g} s, so it is never judged; make it at least {2 * every:g} s"
            for r in config.rules
            if r.window < 2 * every
        ]
        return {
            "deployment": deployment,
            "rules": [r.name for r in config.rules],
            "warnings": warnings,
        }

    def rules(self, deployment: str | None = None) -> list[dict[str, Any]]:
        """Every rule of every watched deployment (or one), with its live state."""
        monitors = self.alerting.monitors()
        if deployment is not None:
            self.stores.deploy.get_deployment(deployment)
            monitors = {k: v for k, v in monitors.items() if k == deployment}
        out = []
        for name, config in monitors.items():
            states = self.alerting.states(name)
            for rule in (*config.rules, UNAVAILABLE):
                state = states.get(rule.name, {"state": "inactive", "since": None, "value": None})
                if rule is UNAVAILABLE and state["state"] != "firing":
                    continue  # Shipyard's own rule is listed while it fires
                out.append(
                    {
                        "deployment": name,
                        "rule": rule.name,
                        "when": rule.when,
                        "for": rule.for_,
                        "window": rule.window,
                        "severity": rule.severity,
                        "actions": list(rule.actions),
                        "labels": rule.labels,
                        "channels": [shown(c.webhook) for c in config.channels],
                        "episode": 0,
                        **state,
                    }
                )
        return out

    def history(
        self,
        deployment: str | None = None,
        after: int = 0,
        limit: int = 100,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Alert events, oldest first: transitions, notifications, actions, tests (the
        newest ``limit`` after ``after`` and, given ``before``, older than that event)."""
        events = self.stores.metadata.list_events(
            kind_prefix="alert.", after_id=after, limit=limit, deployment=deployment,
            before_id=before,
        )  # fmt: skip
        return [
            {"id": e.id, "at": e.at, "kind": e.kind, "actor": e.actor, **e.data} for e in events
        ]

    def test(
        self, rule: str, deployment: str | None = None, actor: str = "shipyard"
    ) -> dict[str, Any]:
        """Send a synthetic notice of ``rule`` to every channel of its deployment; the
        audit log says ``actor`` asked for it."""
        monitors = self.alerting.monitors()
        having = [
            name
            for name, config in monitors.items()
            if config.rule(rule) and deployment in (None, name)
        ]
        if not having:
            known = sorted({r.name for c in monitors.values() for r in c.rules})
            raise NotFoundError(
                f"no deployment has an alert rule named {rule!r}"
                + (f" (deployment {deployment!r})" if deployment else ""),
                hint=f"rules: {', '.join(known)}"
                if known
                else "attach rules with `shipyard alerts apply` in the project, or deploy from it",
            )
        if len(having) > 1:
            raise InvalidInputError(
                f"rule {rule!r} watches {', '.join(having)}", hint="choose one with --deployment"
            )
        config = monitors[having[0]]
        if not config.channels:
            raise InvalidInputError(
                f"deployment {having[0]!r} has no notify channels to test",
                hint="add `monitor: {notify: [{webhook: URL}]}` and run `shipyard alerts apply`",
            )
        notice = self.alerting.test(having[0], rule, config, actor)
        return {
            "deployment": having[0],
            "rule": rule,
            "channels": [shown(c.webhook) for c in config.channels],
            "at": notice.at,
        }
