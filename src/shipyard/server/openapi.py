"""The control plane's OpenAPI document, with request schemas taken from the pydantic bodies."""

from __future__ import annotations

from typing import Any

from shipyard import __version__
from shipyard.server.schema import (
    AlertTestBody,
    DeployBody,
    MonitorBody,
    PromoteBody,
    ReasonBody,
    RollbackBody,
    TrafficBody,
)

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "hint": {"type": ["string", "null"]},
        "exit_code": {"type": "integer"},
    },
    "required": ["error"],
}


def _op(summary: str, body: type | None = None, codes: tuple[int, ...] = ()) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK"}}
    for code in (401, *codes):
        responses[str(code)] = {
            "description": "refused",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {
            "required": body is DeployBody,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}
            },
        }
    return op


def openapi() -> dict[str, Any]:
    """OpenAPI 3.1 for ``/api/v1``."""
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    schemas: dict[str, Any] = {"Error": _ERROR}
    bodies = (DeployBody, PromoteBody, ReasonBody, RollbackBody, TrafficBody, MonitorBody)
    for model in (*bodies, AlertTestBody):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    deployment = "/api/v1/deployments/{name}"

    def on(op: dict[str, Any]) -> dict[str, Any]:
        return {**op, "parameters": [name]}

    paths = {
        "/api/v1/info": {"get": _op("Server version, home and pid")},
        "/api/v1/deployments": {
            "get": _op("Every deployment: desired and observed state, current rollout"),
            "post": {
                **_op(
                    "Roll a version out (creates the deployment)", DeployBody, (400, 404, 409, 422)
                ),
                "responses": {
                    **_op("", None, (400, 404, 409, 422))["responses"],
                    "202": {"description": "the rollout started"},
                },
            },
        },
        deployment: {
            "get": on(_op("One deployment's status", codes=(404,))),
            "delete": {
                **_op("Stop its server (or delete its objects) and the deployment", codes=(404,)),
                "parameters": [
                    name,
                    {"name": "reason", "in": "query", "schema": {"type": "string"}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean"}},
                ],
            },
        },
        f"{deployment}/promote": {
            "post": on(_op("On to the next step now (full: all traffic)", PromoteBody, (404, 409)))
        },
        f"{deployment}/abort": {
            "post": on(_op("Return all traffic to the stable version", ReasonBody, (404, 409)))
        },
        f"{deployment}/rollback": {
            "post": on(_op("Back to the previous (or a given) version", RollbackBody, (404, 409)))
        },
        f"{deployment}/traffic": {
            "put": on(
                _op("Set a traffic split by hand (sums to 100)", TrafficBody, (400, 404, 409))
            )
        },
        f"{deployment}/rollouts": {"get": on(_op("Its rollouts, newest first", codes=(404,)))},
        f"{deployment}/metrics": {
            "get": {
                **_op("Requests/s, error rate, p50/p95/p99 over ?window=15m", codes=(400, 404)),
                "parameters": [
                    name,
                    {"name": "window", "in": "query", "schema": {"type": "string"}},
                ],
            }
        },
        f"{deployment}/monitor": {
            "put": on(_op("Watch it with a `monitor:` section's rules", MonitorBody, (400, 404)))
        },
        "/api/v1/alerts": {
            "get": {
                **_op("Every alert rule and where it stands"),
                "parameters": [{"name": "deployment", "in": "query", "schema": {"type": "string"}}],
            }
        },
        "/api/v1/alerts/history": {
            "get": {
                **_op("Alert events: transitions, notifications, actions"),
                "parameters": [
                    {"name": q, "in": "query", "schema": {"type": t}}
                    for q, t in (
                        ("after", "integer"),
                        ("limit", "integer"),
                        ("deployment", "string"),
                    )
                ],
            }
        },
        "/api/v1/alerts/{rule}/test": {
            "post": {
                **_op("Send a test alert to every channel", AlertTestBody, (400, 404)),
                "parameters": [
                    {"name": "rule", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            }
        },
        "/api/v1/events": {
            "get": {
                **_op("The audit log, oldest first"),
                "parameters": [
                    {"name": q, "in": "query", "schema": {"type": t}}
                    for q, t in (("after", "integer"), ("limit", "integer"), ("model", "string"))
                ],
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shipyard control plane", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas},
    }
