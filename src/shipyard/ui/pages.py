"""The UI's routes: sign-in and sign-out, the registry's pages and, from
``deployments.py``, the deployments' — each calling the service functions the REST
handlers call (``registry.service``, the deploy service), never a second way to the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from shipyard.controlplane.context import ServerContext
from shipyard.errors import AuthError, InvalidInputError, ShipyardError
from shipyard.refs import parse_version, whole_number
from shipyard.registry import service as registry
from shipyard.registry.aliases import alias_history
from shipyard.store import ModelVersion
from shipyard.tags import BUNDLE_TAG
from shipyard.ui.alerts import alert_routes
from shipyard.ui.deployments import deployment_routes
from shipyard.ui.events import event_routes
from shipyard.ui.runs import run_routes
from shipyard.ui.sessions import COOKIE, LIFETIME_S
from shipyard.ui.web import (
    HEADERS,
    STATIC,
    Static,
    Viewer,
    failed,
    form,
    html,
    local_path,
    same_origin,
)

PAGE_SIZE = 50  # versions per page of a model


def ui_routes(ctx: ServerContext) -> list[BaseRoute]:
    """The UI's pages and static files, for the control plane's app."""
    sessions = ctx.sessions

    async def viewer_of(request: Request) -> Viewer | None:
        session = sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        try:
            identity = await asyncio.to_thread(ctx.authenticator.identify, session.token, None)
        except AuthError:  # revoked since: the session ends with it
            sessions.close(session.id)
            return None
        return Viewer(identity, session)

    async def identified(header: str) -> str | None:
        """The name of the token in ``header``; None when it is wrong or revoked."""
        try:
            return (await asyncio.to_thread(ctx.authenticator.identify, header, None)).name
        except AuthError:
            return None

    def signed_in(
        handler: Callable[[Request, Viewer], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                viewer = await viewer_of(request)
            except ShipyardError as err:  # the token store cannot be read
                return failed(err, None)
            if viewer is None:
                wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                target = quote(wanted, safe="")
                return RedirectResponse(f"/signin?next={target}", 303, headers=HEADERS)
            try:
                return await handler(request, viewer)
            except ShipyardError as err:  # a 4xx of the API's kind (503: a store or target down)
                return failed(err, viewer)

        return endpoint

    async def signin(request: Request) -> Response:
        target = local_path(request.query_params.get("next"))
        if request.method == "GET":
            return html("signin.html", viewer=None, next=target, error=None)
        if not same_origin(request):
            return html("error.html", 403, viewer=None, error="a sign-in from another site",
                        hint="open the UI's own sign-in page")  # fmt: skip
        try:
            fields = await form(request)
        except InvalidInputError as err:
            return html("signin.html", 400, viewer=None, next=target, error=err.message)
        token = fields.get("token", "").strip()
        header = f"Bearer {token}"
        try:
            await asyncio.to_thread(ctx.authenticator.identify, header, None)
        except AuthError as err:
            return html("signin.html", 401, viewer=None, next=target, error=err.message)
        except ShipyardError as err:  # the token store cannot be read
            return failed(err, None)
        return signed_in_as(request, header, local_path(fields.get("next") or target))

    def signed_in_as(request: Request, header: str, target: str) -> Response:
        """A new session for an accepted token: its cookie, and on to ``target`` (the
        browser's session before it, if any, ends)."""
        previous = request.cookies.get(COOKIE)
        if previous:
            sessions.close(previous)
        session = sessions.open(header)
        response = RedirectResponse(target, 303, HEADERS)
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=int(LIFETIME_S),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def signin_link(request: Request) -> Response:
        """A link from ``shipyard ui``. Opened by the user themself (the browser says
        ``Sec-Fetch-Site: none``: typed, or handed over by the CLI) it signs in at once;
        reached any other way — another site's link or form, a browser that does not say —
        it asks first, so that no site can swap a browser's session for one of its own."""
        secret = request.path_params["secret"]
        direct = request.method == "GET" and request.headers.get("sec-fetch-site") == "none"
        if request.method == "POST" and not same_origin(request):
            return html("error.html", 403, viewer=None, error="a sign-in from another site",
                        hint="open the link `shipyard ui` printed")  # fmt: skip
        taking = request.method == "POST" or direct
        header = sessions.redeem(secret) if taking else sessions.peek(secret)
        try:
            name = None if header is None else await identified(header)
        except ShipyardError as err:  # the token store cannot be read
            return failed(err, None)
        if header is None or name is None:
            message = "this sign-in link is used, expired or unknown; run `shipyard ui` again"
            return html("signin.html", 401, viewer=None, next="/", error=message)
        if not taking:
            return html("signin_link.html", viewer=None, name=name, secret=secret)
        return signed_in_as(request, header, "/")

    async def signout(request: Request) -> Response:
        session = sessions.get(request.cookies.get(COOKIE))
        try:
            fields = await form(request) if same_origin(request) else {}
        except InvalidInputError:  # an oversized form is no sign-out form
            fields = {}
        if session is None or not session.checks(fields.get("csrf")):
            return html("error.html", 403, viewer=None, error="sign-out refused: stale form",
                        hint="reload the page and sign out again")  # fmt: skip
        sessions.close(session.id)
        response = RedirectResponse("/signin", 303, HEADERS)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    async def models_page(request: Request, viewer: Viewer) -> Response:
        found = await asyncio.to_thread(registry.models, ctx.stores)
        return html("models.html", viewer=viewer, models=found)

    async def model_page(request: Request, viewer: Viewer) -> Response:
        name = request.path_params["model"]
        summary = await asyncio.to_thread(registry.model, ctx.stores, name)
        number = _page_number(request.query_params.get("page"))
        latest = summary.latest_version or 0  # versions are numbered without gaps
        pages = max(1, -(-latest // PAGE_SIZE))
        if number > pages:
            raise InvalidInputError(f"page {number}: {name} has {pages} page(s) of versions")
        below = latest - (number - 1) * PAGE_SIZE + 1
        versions = await asyncio.to_thread(
            lambda: registry.versions(ctx.stores, name, below=below, limit=PAGE_SIZE)
        )
        history = await asyncio.to_thread(alias_history, ctx.stores, name, None)
        return html("model.html", viewer=viewer, model=summary, versions=versions[::-1],
                    history=history[::-1], page=number, pages=pages)  # fmt: skip

    async def version_page(request: Request, viewer: Viewer) -> Response:
        name = request.path_params["model"]
        number = parse_version(request.path_params["version"])
        version = await asyncio.to_thread(registry.version, ctx.stores, name, number)
        summary = await asyncio.to_thread(registry.model, ctx.stores, name)
        aliases = sorted(a for a, v in summary.aliases.items() if v == version.version)
        tags = version.tags
        return html("version.html", viewer=viewer, version=version, aliases=aliases,
                    run=tags.get("shipyard.run"), bundle=tags.get(BUNDLE_TAG))  # fmt: skip

    async def compare_page(request: Request, viewer: Viewer) -> Response:
        name = request.path_params["model"]
        numbers = [parse_version(request.query_params.get(k, "").strip()) for k in ("a", "b")]
        a, b = [await asyncio.to_thread(registry.version, ctx.stores, name, n) for n in numbers]
        return html("compare.html", viewer=viewer, a=a, b=b, rows=compared(a, b))

    return [
        Route("/", signed_in(models_page)),
        Route("/models/{model}/compare", signed_in(compare_page)),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signin/link/{secret}", signin_link, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/models/{model}", signed_in(model_page)),
        Route("/models/{model}/versions/{version}", signed_in(version_page)),
        *deployment_routes(ctx, signed_in),
        *event_routes(ctx, signed_in),
        *run_routes(ctx, signed_in),
        *alert_routes(ctx, signed_in),
        Mount("/static", Static(directory=STATIC), name="static"),
    ]


def compared(a: ModelVersion, b: ModelVersion) -> list[tuple[str, str, Any, Any, bool]]:
    """Two versions side by side: (section, name, a's value, b's value, differ) for every
    metric, param and piece of lineage either has."""
    rows: list[tuple[str, str, Any, Any, bool]] = []

    def add(section: str, left: dict[str, Any], right: dict[str, Any]) -> None:
        for key in sorted(left.keys() | right.keys()):
            x, y = left.get(key), right.get(key)
            rows.append((section, key, x, y, x != y))

    add("Metrics", a.metrics, b.metrics)
    add("Params", a.params, b.params)
    size = {"flavor": a.flavor, "files": len(a.artifacts),
            "bytes": sum(f.size for f in a.artifacts), "content": a.content_digest}  # fmt: skip
    other = {"flavor": b.flavor, "files": len(b.artifacts),
             "bytes": sum(f.size for f in b.artifacts), "content": b.content_digest}  # fmt: skip
    add("Model", size, other)
    lineage = {k: v for k, v in asdict(a.lineage).items() if k != "data_digests"}
    add("Environment", lineage, {k: v for k, v in asdict(b.lineage).items() if k != "data_digests"})
    add("Data", a.lineage.data_digests, b.lineage.data_digests)
    return rows


def _page_number(text: str | None) -> int:
    return 1 if text is None else whole_number(text, "page")
