"""The control plane's REST API (``/api/v1``): deployments, rollouts, events.

Thin: each route parses its body, calls the deploy service, and answers JSON.
Errors are ``{"error", "hint", "exit_code"}`` with the status their kind calls
for (400 bad input, 404 unknown, 409 conflict, 422 refused version), so the CLI
shows the same message and exits with the same code as if it had run locally.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shipyard import __version__, jsonio
from shipyard.deploy.controller import Controller
from shipyard.deploy.service import DeployService
from shipyard.deploy.target import TargetError
from shipyard.errors import ShipyardError
from shipyard.monitor.scraper import Scraper
from shipyard.monitor.service import MonitorService
from shipyard.server.openapi import openapi
from shipyard.server.schema import (
    AlertTestBody,
    DeployBody,
    MonitorBody,
    PromoteBody,
    ReasonBody,
    RollbackBody,
    TrafficBody,
)
from shipyard.serving.openapi import DOCS_HTML

MAX_BODY = 256 * 1024
STATUS = {2: 400, 3: 422, 4: 404, 8: 409}  # exit code → HTTP status


def _json(data: Any, status: int = 200) -> Response:
    return Response(jsonio.dumps(data), status_code=status, media_type="application/json")


def _error(err: ShipyardError) -> Response:
    status = STATUS.get(err.exit_code, 500 if err.exit_code == 6 else 400)
    if isinstance(err, TargetError):
        status = 503  # the model server is down or busy: not the caller's mistake
    return _json({"error": err.message, "hint": err.hint, "exit_code": err.exit_code}, status)


def _pydantic_error(err: ValidationError) -> Response:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    message = f"{where}: {first['msg']}" + (
        f" ({len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    )
    return _json({"error": message, "hint": "see /openapi.json", "exit_code": 2}, 400)


async def _body(request: Request, model: type[BaseModel]) -> Any:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ShipyardError(f"the request body is over {MAX_BODY} bytes")
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as err:
        from shipyard.errors import InvalidInputError

        raise InvalidInputError(f"the request body is not JSON: {err}") from None
    return model.model_validate(data)


def _paging(request: Request) -> tuple[int, int]:
    """``after`` (an event id) and ``limit`` from the query string, checked."""
    from shipyard.errors import InvalidInputError

    try:
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", "100"))
    except ValueError:
        raise InvalidInputError("after and limit must be integers") from None
    if not (0 <= after < 2**63 and 1 <= limit <= 100_000):
        raise InvalidInputError("after: 0 to 2^63-1; limit: 1 to 100000")
    return after, limit


def create_app(
    service: DeployService,
    controller: Controller,
    scraper: Scraper,
    monitor: MonitorService,
    token: str,
    home: str,
) -> Starlette:
    """The REST API over ``service``; every call needs ``token`` as a bearer token (the
    OpenAPI document and its page do not)."""
    expected = f"Bearer {token}".encode()

    def endpoint(
        handler: Callable[[Request, str], Awaitable[Any]], status: int = 200
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return _json(
                    {
                        "error": "missing or wrong token (Authorization: Bearer …)",
                        "hint": "the token is in $SHIPYARD_HOME/run/server.json, or the one "
                        "the server was started with ($SHIPYARD_SERVER_TOKEN)",
                        "exit_code": 2,
                    },
                    401,
                )
            actor = request.headers.get("x-shipyard-actor") or "api"
            try:
                result = await handler(request, actor)
            except ValidationError as err:
                return _pydantic_error(err)
            except ShipyardError as err:
                return _error(err)
            controller.wake()
            return _json(result, status)

        return wrapped

    def name(request: Request) -> str:
        return str(request.path_params["name"])

    async def info(request: Request, actor: str) -> Any:
        import os

        return {"version": __version__, "home": home, "pid": os.getpid()}

    def with_problem(status: dict[str, Any]) -> dict[str, Any]:
        """The controller's last error for the deployment, while it is not converging."""
        return {**status, "problem": controller.problems().get(status["name"])}

    async def list_deployments(request: Request, actor: str) -> Any:
        return [with_problem(s) for s in await asyncio.to_thread(service.statuses)]

    async def deploy(request: Request, actor: str) -> Any:
        body = await _body(request, DeployBody)
        return await asyncio.to_thread(service.deploy, body.request(), actor)

    async def get_deployment(request: Request, actor: str) -> Any:
        return with_problem(await asyncio.to_thread(service.status, name(request)))

    async def undeploy(request: Request, actor: str) -> Any:
        query = request.query_params
        force = query.get("force", "false").lower() in ("1", "true")
        await asyncio.to_thread(
            service.undeploy, name(request), actor, query.get("reason", ""), force
        )
        return {"deleted": name(request)}

    async def promote(request: Request, actor: str) -> Any:
        body = await _body(request, PromoteBody)
        return await asyncio.to_thread(service.promote, name(request), actor, body.full)

    async def abort(request: Request, actor: str) -> Any:
        body = await _body(request, ReasonBody)
        return await asyncio.to_thread(service.abort, name(request), actor, body.reason)

    async def rollback(request: Request, actor: str) -> Any:
        body = await _body(request, RollbackBody)
        await asyncio.to_thread(service.rollback, name(request), actor, body.to, body.reason)
        return await asyncio.to_thread(service.status, name(request))

    async def traffic(request: Request, actor: str) -> Any:
        body = await _body(request, TrafficBody)
        await asyncio.to_thread(
            service.set_traffic, name(request), body.weights, body.shadow, actor, body.reason
        )
        return await asyncio.to_thread(service.status, name(request))

    async def metrics(request: Request, actor: str) -> Any:
        from shipyard.errors import InvalidInputError
        from shipyard.units import parse_duration

        service.stores.deploy.get_deployment(name(request))  # 404 for an unknown one
        try:
            span = parse_duration(request.query_params.get("window", "15m"))
        except ValueError as err:
            raise InvalidInputError(f"window: {err}") from None
        if span < 1:
            raise InvalidInputError("window: at least 1s")
        return await asyncio.to_thread(scraper.summary, name(request), span)

    async def rollouts(request: Request, actor: str) -> Any:
        service.stores.deploy.get_deployment(name(request))
        return service.stores.deploy.list_rollouts(name(request))

    async def events(request: Request, actor: str) -> Any:
        after, limit = _paging(request)
        return service.stores.metadata.list_events(
            model=request.query_params.get("model"), after_id=after, limit=limit
        )

    async def attach_monitor(request: Request, actor: str) -> Any:
        body = await _body(request, MonitorBody)
        return await asyncio.to_thread(
            monitor.attach, name(request), body.monitor, body.project, actor
        )

    async def alerts(request: Request, actor: str) -> Any:
        return await asyncio.to_thread(monitor.rules, request.query_params.get("deployment"))

    async def alert_history(request: Request, actor: str) -> Any:
        after, limit = _paging(request)
        deployment = request.query_params.get("deployment")
        return await asyncio.to_thread(monitor.history, deployment, after, limit)

    async def alert_test(request: Request, actor: str) -> Any:
        body = await _body(request, AlertTestBody)
        rule = str(request.path_params["rule"])
        return await asyncio.to_thread(monitor.test, rule, body.deployment)

    async def openapi_json(request: Request) -> Response:
        return _json(openapi())

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML.replace("Shipyard model server", "Shipyard control plane"))

    v1 = "/api/v1"
    return Starlette(
        routes=[
            Route(f"{v1}/info", endpoint(info)),
            Route(f"{v1}/deployments", endpoint(list_deployments)),
            Route(f"{v1}/deployments", endpoint(deploy, 202), methods=["POST"]),
            Route(f"{v1}/deployments/{{name}}", endpoint(get_deployment)),
            Route(f"{v1}/deployments/{{name}}", endpoint(undeploy), methods=["DELETE"]),
            Route(f"{v1}/deployments/{{name}}/promote", endpoint(promote), methods=["POST"]),
            Route(f"{v1}/deployments/{{name}}/abort", endpoint(abort), methods=["POST"]),
            Route(f"{v1}/deployments/{{name}}/rollback", endpoint(rollback), methods=["POST"]),
            Route(f"{v1}/deployments/{{name}}/traffic", endpoint(traffic), methods=["PUT"]),
            Route(f"{v1}/deployments/{{name}}/rollouts", endpoint(rollouts)),
            Route(f"{v1}/deployments/{{name}}/metrics", endpoint(metrics)),
            Route(f"{v1}/deployments/{{name}}/monitor", endpoint(attach_monitor), methods=["PUT"]),
            Route(f"{v1}/events", endpoint(events)),
            Route(f"{v1}/alerts", endpoint(alerts)),
            Route(f"{v1}/alerts/history", endpoint(alert_history)),
            Route(f"{v1}/alerts/{{rule}}/test", endpoint(alert_test, 202), methods=["POST"]),
            Route("/openapi.json", openapi_json),
            Route("/docs", docs),
        ]
    )
