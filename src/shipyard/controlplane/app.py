"""The control plane's REST API (``/api/v1``), assembled from the handler modules.

Each resource's endpoints live in ``handlers/<resource>.py`` as ``Operation``
declarations (see ``api``); this module lists them, turns them into routes, and
serves the OpenAPI document generated from the same list.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shipyard.controlplane.api import Operation, json_response, route
from shipyard.controlplane.context import ServerContext
from shipyard.controlplane.handlers import (
    alerts,
    artifacts,
    deployments,
    events,
    info,
    registry,
    runs,
    tokens,
    ui,
)
from shipyard.controlplane.openapi import openapi
from shipyard.serving.openapi import DOCS_HTML
from shipyard.ui.pages import ui_routes

OPERATIONS: tuple[Operation, ...] = (
    *info.OPERATIONS,
    *registry.OPERATIONS,
    *artifacts.OPERATIONS,
    *runs.OPERATIONS,
    *deployments.OPERATIONS,
    *alerts.OPERATIONS,
    *events.OPERATIONS,
    *tokens.OPERATIONS,
    *ui.OPERATIONS,
)


def create_app(ctx: ServerContext) -> Starlette:
    """The REST API over the server's services, and the web UI beside it; every call needs
    a token (the OpenAPI document and its page, and the UI's sign-in page, do not)."""
    document = openapi(OPERATIONS)

    async def openapi_json(request: Request) -> Response:
        return json_response(document)

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML.replace("Shipyard model server", "Shipyard control plane"))

    return Starlette(
        routes=[
            *(route(op, ctx) for op in OPERATIONS),
            Route("/openapi.json", openapi_json),
            Route("/docs", docs),
            *ui_routes(ctx),
        ]
    )
