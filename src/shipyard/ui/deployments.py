"""The deployments' pages: desired against observed, the rollout under way with each
analysis, its history, its live charts, and the actions — promote, abort, roll back,
split traffic — each confirmed on a page of its own with a reason, bound to what that page
showed, and run by the deploy service the REST API runs.

The status panel of a deployment's page is also served alone (``…/panel``): the page's
script fetches it every few seconds and puts it in place, so a rollout advances on screen
without a reload; with scripts off the page is the same, as of when it was loaded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shipyard.client.documents import DeploymentStatus
from shipyard.controlplane.context import ServerContext
from shipyard.deploy.service import DeployService
from shipyard.errors import InvalidInputError
from shipyard.refs import parse_version
from shipyard.serving.routing import parse_shares
from shipyard.ui.charts import WINDOW_S, charts
from shipyard.ui.web import HEADERS, Guard, Viewer, form, html, refused, same_origin

MAX_REASON = 500  # characters of a typed reason


@dataclass(frozen=True, slots=True)
class Action:
    """A button on a deployment's page and the question its confirmation page asks."""

    title: str  # "Roll back"
    question: str  # shown on the confirmation page
    needs_rollout: bool  # only while a rollout is under way


ACTIONS = {
    "promote": Action("Promote", "Move the rollout on to its next step now?", True),
    "abort": Action("Abort", "Return all traffic to the stable version?", True),
    "rollback": Action("Roll back", "Send traffic back to the previous version?", False),
    "traffic": Action("Split traffic", "Set the share of traffic each version gets?", False),
}


def deployment_routes(ctx: ServerContext, signed_in: Guard) -> list[BaseRoute]:
    """The deployments' pages, behind ``signed_in``."""
    service = ctx.deploy

    async def list_page(request: Request, viewer: Viewer) -> Response:
        statuses = await asyncio.to_thread(service.statuses)
        return html("deployments.html", viewer=viewer, deployments=statuses)

    async def panel_values(request: Request) -> dict[str, Any]:
        name = request.path_params["name"]
        status = await asyncio.to_thread(service.status, name)
        rollouts = await asyncio.to_thread(service.rollouts, name, 10)
        version = request.query_params.get("version") or None
        if version is not None and version not in status["desired"]["weights"]:
            raise InvalidInputError(f"v{version} takes no traffic of {name}: no chart of it")
        summary = await asyncio.to_thread(ctx.scraper.summary, name, WINDOW_S, version)
        return {
            "version": version,
            "d": status,
            "rollouts": rollouts,
            "problem": ctx.controller.problems().get(name),
            "charts": charts(summary),
            "drift": summary["drift"]["features"],
            "unavailable": summary["unavailable"],
        }

    async def detail_page(request: Request, viewer: Viewer) -> Response:
        values = await panel_values(request)
        return html("deployment.html", viewer=viewer, actions=ACTIONS, **values)

    async def panel(request: Request, viewer: Viewer) -> Response:
        values = await panel_values(request)
        return html("deployment_panel.html", viewer=viewer, actions=ACTIONS, **values)

    async def confirm(request: Request, viewer: Viewer) -> Response:
        name, action = request.path_params["name"], _action(request)
        verb = request.path_params["action"]
        if not viewer.can("deploy"):
            return refused(viewer, "deploy")
        status = await asyncio.to_thread(service.status, name)

        def asking(code: int = 200, error: str | None = None, typed: Any = None) -> Response:
            return html("confirm.html", code, viewer=viewer, d=status, action=action, verb=verb,
                        error=error, typed=typed or {}, seen=seen(status))  # fmt: skip

        if request.method == "GET":
            return asking()
        if not same_origin(request):
            return html("error.html", 403, viewer=viewer, error="an action from another site",
                        hint="use the buttons on the deployment's own page")  # fmt: skip
        fields = await form(request)
        if not viewer.session.checks(fields.get("csrf")):
            return html("error.html", 403, viewer=viewer, error="action refused: stale form",
                        hint="reload the deployment's page and try again")  # fmt: skip
        if fields.get("seen") != seen(status):  # a double submit, or a page left open
            message = ("the deployment moved on since this page was shown: it is now as "
                       "below; confirm again if this is still what you want")  # fmt: skip
            return asking(409, message, {**fields, "seen": seen(status)})
        reason = fields.get("reason", "").strip()
        if not reason or len(reason) > MAX_REASON:
            message = f"say why, in 1 to {MAX_REASON} characters: it goes into the audit log"
            return asking(400, message, fields)
        try:
            await asyncio.to_thread(_act, service, status, verb, viewer.identity.name, reason,
                                    fields)  # fmt: skip
        except InvalidInputError as err:  # a split that does not add up, a bad version: again
            return asking(400, err.message, fields)
        ctx.controller.wake()
        return RedirectResponse(f"/deployments/{quote(name, safe='')}", 303, headers=HEADERS)

    return [
        Route("/deployments", signed_in(list_page)),
        Route("/deployments/{name}", signed_in(detail_page)),
        Route("/deployments/{name}/panel", signed_in(panel)),
        Route("/deployments/{name}/{action}", signed_in(confirm), methods=["GET", "POST"]),
    ]


def seen(status: DeploymentStatus) -> str:
    """What a confirmation page was shown: the rollout and its step, the traffic split.
    An action confirmed on it runs only while this is still so."""
    r = status["rollout"]
    weights = ",".join(f"{v}={w}" for v, w in sorted(status["desired"]["weights"].items()))
    shown = (None, None, None) if r is None else (r["id"], r["step"], r["state"])
    return ":".join(map(str, (*shown, weights)))


def _act(
    service: DeployService,
    status: DeploymentStatus,
    verb: str,
    actor: str,
    reason: str,
    fields: dict[str, str],
) -> None:
    """Run one confirmed action, as the CLI's command of the same name does."""
    name = status["name"]
    if verb == "promote":
        service.promote(name, actor, False, reason)
    elif verb == "abort":
        service.abort(name, actor, reason)
    elif verb == "traffic":
        weights = parse_shares(fields.get("weights", ""), "weights")
        shadow = status["desired"]["shadow"]  # kept as it is: this form sets the live split
        service.set_traffic(name, weights, shadow, actor, reason)
    else:
        service.rollback(name, actor, _version(fields.get("to", "")), reason)


def _action(request: Request) -> Action:
    verb = request.path_params["action"]
    if verb not in ACTIONS:
        raise InvalidInputError(f"no action {verb!r}; the actions are {', '.join(ACTIONS)}")
    return ACTIONS[verb]


def _version(text: str) -> int | None:
    """A rollback's target version from the form (blank: the previous one)."""
    text = text.strip()
    return parse_version(text) if text else None
