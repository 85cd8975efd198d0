"""The audit log's page: newest first, a page at a time, filtered by model, deployment,
kind and actor, through the same ``registry.events`` the REST API's ``/events`` calls.
Its list is also served alone (``/events/list``) for the page's script to follow live."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipyard.controlplane.context import ServerContext
from shipyard.refs import whole_number
from shipyard.registry import service as registry
from shipyard.ui.web import Guard, Viewer, html

PAGE_SIZE = 100
FILTERS = ("model", "deployment", "kind", "actor")


def event_routes(ctx: ServerContext, signed_in: Guard) -> list[BaseRoute]:
    """The events page and its live list, behind ``signed_in``."""

    async def values(request: Request) -> dict[str, Any]:
        chosen = {k: request.query_params.get(k, "").strip() for k in FILTERS}
        before = _before(request.query_params.get("before"))
        kind = chosen["kind"] or None
        prefix = kind is not None and kind.endswith(".")  # "rollout." names a family
        found = await asyncio.to_thread(
            lambda: registry.events(
                ctx.stores,
                limit=PAGE_SIZE + 1,  # one more tells whether there is an older page
                before_id=before,
                model=chosen["model"] or None,
                deployment=chosen["deployment"] or None,
                actor=chosen["actor"] or None,
                kind=None if prefix else kind,
                kind_prefix=kind if prefix else None,
            )
        )
        older = len(found) > PAGE_SIZE
        shown = found[::-1][:PAGE_SIZE]  # newest first
        query = {k: v for k, v in chosen.items() if v}
        return {
            "events": shown,
            "filters": chosen,
            "live": before is None,  # the first page follows new events; older pages stay
            "older": urlencode({**query, "before": shown[-1].id}) if older and shown else None,
            "query": urlencode(query),
        }

    async def page(request: Request, viewer: Viewer) -> Response:
        return html("events.html", viewer=viewer, **await values(request))

    async def listing(request: Request, viewer: Viewer) -> Response:
        return html("events_list.html", viewer=viewer, **await values(request))

    return [
        Route("/events", signed_in(page)),
        Route("/events/list", signed_in(listing)),
    ]


def _before(text: str | None) -> int | None:
    return None if not text else whole_number(text, "before", 2**63 - 1)
