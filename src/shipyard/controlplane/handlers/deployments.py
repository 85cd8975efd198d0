"""``/deployments``: roll out, inspect, promote, abort, roll back, split traffic, watch."""

from __future__ import annotations

from typing import Any

from shipyard.controlplane.api import Call, Operation
from shipyard.controlplane.schema import (
    MonitorBody,
    PromoteBody,
    ReasonBody,
    RollbackBody,
    TrafficBody,
)
from shipyard.deploy.request import DeployRequest
from shipyard.errors import InvalidInputError
from shipyard.units import parse_duration


def _with_problem(call: Call, status: dict[str, Any]) -> dict[str, Any]:
    """The controller's last error for the deployment, while it is not converging."""
    return {**status, "problem": call.ctx.controller.problems().get(status["name"])}


async def list_deployments(call: Call) -> Any:
    return [_with_problem(call, s) for s in await call.run(call.ctx.deploy.statuses)]


async def deploy(call: Call) -> Any:
    body = await call.body(DeployRequest)
    return await call.run(call.ctx.deploy.deploy, body, call.actor)


async def get_deployment(call: Call) -> Any:
    return _with_problem(call, await call.run(call.ctx.deploy.status, call.path("name")))


async def undeploy(call: Call) -> Any:
    name = call.path("name")
    force = (call.query("force") or "false").lower() in ("1", "true")
    await call.run(call.ctx.deploy.undeploy, name, call.actor, call.query("reason") or "", force)
    return {"deleted": name}


async def promote(call: Call) -> Any:
    body = await call.body(PromoteBody)
    name = call.path("name")
    return await call.run(call.ctx.deploy.promote, name, call.actor, body.full, body.reason)


async def abort(call: Call) -> Any:
    body = await call.body(ReasonBody)
    return await call.run(call.ctx.deploy.abort, call.path("name"), call.actor, body.reason)


async def rollback(call: Call) -> Any:
    body = await call.body(RollbackBody)
    name = call.path("name")
    await call.run(call.ctx.deploy.rollback, name, call.actor, body.to, body.reason)
    return await call.run(call.ctx.deploy.status, name)


async def traffic(call: Call) -> Any:
    body = await call.body(TrafficBody)
    name = call.path("name")
    service = call.ctx.deploy
    await call.run(service.set_traffic, name, body.weights, body.shadow, call.actor, body.reason)
    return await call.run(service.status, name)


async def rollouts(call: Call) -> Any:
    return await call.run(call.ctx.deploy.rollouts, call.path("name"))


async def metrics(call: Call) -> Any:
    name = call.path("name")
    await call.run(call.ctx.deploy.rollouts, name, 1)  # 404 for an unknown deployment
    try:
        span = parse_duration(call.query("window") or "15m")
    except ValueError as err:
        raise InvalidInputError(f"window: {err}") from None
    if span < 1:
        raise InvalidInputError("window: at least 1s")
    return await call.run(call.ctx.scraper.summary, name, span, call.query("version"))


async def attach_monitor(call: Call) -> Any:
    body = await call.body(MonitorBody)
    monitor = call.ctx.monitor
    return await call.run(monitor.attach, call.path("name"), body.monitor, body.project, call.actor)


_ONE = "/deployments/{name}"
OPERATIONS = (
    Operation(
        "GET",
        "/deployments",
        "read",
        "Every deployment: desired and observed state, current rollout",
        list_deployments,
    ),
    Operation(
        "POST",
        "/deployments",
        "deploy",
        "Roll a version out (creates the deployment)",
        deploy,
        body=DeployRequest,
        status=202,
        codes=(400, 404, 409, 422),
        wakes=True,
    ),
    Operation("GET", _ONE, "read", "One deployment's status", get_deployment, codes=(404,)),
    Operation(
        "DELETE",
        _ONE,
        "deploy",
        "Stop its server (or delete its objects) and the deployment",
        undeploy,
        query=(("reason", "string"), ("force", "boolean")),
        codes=(404,),
        wakes=True,
    ),
    Operation(
        "POST",
        f"{_ONE}/promote",
        "deploy",
        "On to the next step now (full: all traffic)",
        promote,
        body=PromoteBody,
        codes=(404, 409),
        wakes=True,
    ),
    Operation(
        "POST",
        f"{_ONE}/abort",
        "deploy",
        "Return all traffic to the stable version",
        abort,
        body=ReasonBody,
        codes=(404, 409),
        wakes=True,
    ),
    Operation(
        "POST",
        f"{_ONE}/rollback",
        "deploy",
        "Back to the previous (or a given) version",
        rollback,
        body=RollbackBody,
        codes=(404, 409),
        wakes=True,
    ),
    Operation(
        "PUT",
        f"{_ONE}/traffic",
        "deploy",
        "Set a traffic split by hand (sums to 100)",
        traffic,
        body=TrafficBody,
        codes=(400, 404, 409),
        wakes=True,
    ),
    Operation(
        "GET", f"{_ONE}/rollouts", "read", "Its rollouts, newest first", rollouts, codes=(404,)
    ),
    Operation(
        "GET",
        f"{_ONE}/metrics",
        "read",
        "Requests/s, error rate, p50/p95/p99 over ?window=15m (?version: of one version)",
        metrics,
        query=(("window", "string"), ("version", "string")),
        codes=(400, 404),
    ),
    Operation(
        "PUT",
        f"{_ONE}/monitor",
        "deploy",
        "Watch it with a `monitor:` section's rules",
        attach_monitor,
        body=MonitorBody,
        codes=(400, 404),
        wakes=True,
    ),
)
