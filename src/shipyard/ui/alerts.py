"""The alerts' page: every rule of every watched deployment with its state (inactive,
pending, firing), the value it last saw against its condition, and the alert history; a
"send a test" button per rule. Through the monitor service the REST API's ``/alerts``
calls."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shipyard.controlplane.context import ServerContext
from shipyard.ui.web import HEADERS, Guard, Viewer, form, html, refused, same_origin

HISTORY = 50  # the newest alert events shown


def alert_routes(ctx: ServerContext, signed_in: Guard) -> list[BaseRoute]:
    """The alerts' page and its test button, behind ``signed_in``."""
    monitor = ctx.monitor

    async def page(request: Request, viewer: Viewer) -> Response:
        rules = await asyncio.to_thread(monitor.rules)
        history = await asyncio.to_thread(monitor.history, None, 0, HISTORY)
        sent = request.query_params.get("sent")
        if sent not in {r["rule"] for r in rules}:  # only a rule this page shows
            sent = None
        return html("alerts.html", viewer=viewer, rules=rules, history=history[::-1], sent=sent)

    async def send_test(request: Request, viewer: Viewer) -> Response:
        if not viewer.can("deploy"):
            return refused(viewer, "deploy")
        fields = await form(request) if same_origin(request) else {}
        if not viewer.session.checks(fields.get("csrf")):
            return html("error.html", 403, viewer=viewer, error="test refused: stale form",
                        hint="reload the alerts page and try again")  # fmt: skip
        rule = request.path_params["rule"]
        deployment = fields.get("deployment") or None
        await asyncio.to_thread(monitor.test, rule, deployment, viewer.identity.name)
        return RedirectResponse(f"/alerts?sent={quote(rule, safe='')}", 303, headers=HEADERS)

    return [
        Route("/alerts", signed_in(page)),
        Route("/alerts/{rule}/test", signed_in(send_test), methods=["POST"]),
    ]
