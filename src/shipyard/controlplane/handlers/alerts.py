"""``/alerts``: every rule and where it stands, the alert history, test notifications."""

from __future__ import annotations

from typing import Any

from shipyard.controlplane.api import Call, Operation
from shipyard.controlplane.handlers.events import paging
from shipyard.controlplane.schema import AlertTestBody


async def alerts(call: Call) -> Any:
    return await call.run(call.ctx.monitor.rules, call.query("deployment"))


async def alert_history(call: Call) -> Any:
    after, limit, before = paging(call)
    deployment = call.query("deployment")
    return await call.run(call.ctx.monitor.history, deployment, after, limit, before)


async def alert_test(call: Call) -> Any:
    body = await call.body(AlertTestBody)
    return await call.run(call.ctx.monitor.test, call.path("rule"), body.deployment, call.actor)


OPERATIONS = (
    Operation(
        "GET",
        "/alerts",
        "read",
        "Every alert rule and where it stands",
        alerts,
        query=(("deployment", "string"),),
    ),
    Operation(
        "GET",
        "/alerts/history",
        "read",
        "Alert events: transitions, notifications, actions",
        alert_history,
        query=(
            ("after", "integer"),
            ("limit", "integer"),
            ("deployment", "string"),
            ("before", "integer"),
        ),
    ),
    Operation(
        "POST",
        "/alerts/{rule}/test",
        "deploy",
        "Send a test alert to every channel",
        alert_test,
        body=AlertTestBody,
        status=202,
        codes=(400, 404),
    ),
)
