"""The UI's routes: sign-in and sign-out, and the pages, each calling the service functions
the REST handlers call (``registry.service``), never a second way to the data.

Every answer carries a Content-Security-Policy that admits scripts, styles and images
from this server only (no inline script, no CDN), refuses framing, and keeps forms on
this origin. Forms that change something carry the session's CSRF secret and are
refused without it, and a POST from another origin is refused whatever it carries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from shipyard.access import Identity
from shipyard.errors import AuthError, InvalidInputError, NotFoundError, ShipyardError
from shipyard.refs import MAX_VERSION
from shipyard.registry import BUNDLE_TAG
from shipyard.registry import service as registry
from shipyard.server.api import read_body
from shipyard.server.context import ServerContext
from shipyard.ui.render import page
from shipyard.ui.sessions import COOKIE, LIFETIME_S, Session, Sessions

HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",  # pages show the registry as it is now, to who signed in
}
MAX_FORM = 16 * 1024
PAGE_SIZE = 50  # versions per page of a model
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: their identity and session (whose CSRF secret the forms carry)."""

    identity: Identity
    session: Session

    def can(self, scope: str) -> bool:
        """Whether to show the actions that need ``scope``."""
        return self.identity.allows(scope)


def html(template: str, status: int = 200, **values: Any) -> Response:
    """A page with the UI's security headers."""
    return HTMLResponse(page(template, **values), status, headers=HEADERS)


def _local_path(target: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the first value of each), refusing a big body."""
    raw = await read_body(request, MAX_FORM, "the form")
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # an opaque origin ("null") is another site's sandbox
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def ui_routes(ctx: ServerContext) -> list[BaseRoute]:
    """The UI's pages and static files, for the control plane's app."""
    sessions = Sessions()

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

    def signed_in(
        handler: Callable[[Request, Viewer], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            viewer = await viewer_of(request)
            if viewer is None:
                target = quote(request.url.path, safe="/")
                return RedirectResponse(f"/signin?next={target}", 303, headers=HEADERS)
            try:
                return await handler(request, viewer)
            except NotFoundError as err:
                return html("error.html", 404, viewer=viewer, error=err.message, hint=err.hint)
            except ShipyardError as err:
                return html("error.html", 400, viewer=viewer, error=err.message, hint=err.hint)

        return endpoint

    async def signin(request: Request) -> Response:
        target = _local_path(request.query_params.get("next"))
        if request.method == "GET":
            return html("signin.html", viewer=None, next=target, error=None)
        if not _same_origin(request):
            return html("error.html", 403, viewer=None, error="a sign-in from another site",
                        hint="open the UI's own sign-in page")  # fmt: skip
        try:
            fields = await _form(request)
        except InvalidInputError as err:
            return html("signin.html", 400, viewer=None, next=target, error=err.message)
        token = fields.get("token", "").strip()
        header = f"Bearer {token}"
        try:
            await asyncio.to_thread(ctx.authenticator.identify, header, None)
        except AuthError as err:
            return html("signin.html", 401, viewer=None, next=target, error=err.message)
        session = sessions.open(header)
        response = RedirectResponse(_local_path(fields.get("next") or target), 303, HEADERS)
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=int(LIFETIME_S),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def signout(request: Request) -> Response:
        session = sessions.get(request.cookies.get(COOKIE))
        try:
            fields = await _form(request) if _same_origin(request) else {}
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
        versions = await asyncio.to_thread(registry.versions, ctx.stores, name)
        history = await asyncio.to_thread(registry.alias_history, ctx.stores, name, None)
        number = _page_number(request.query_params.get("page"))
        newest_first = versions[::-1]
        pages = max(1, -(-len(newest_first) // PAGE_SIZE))
        shown = newest_first[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        return html("model.html", viewer=viewer, model=summary, versions=shown,
                    history=history[::-1], page=number, pages=pages)  # fmt: skip

    async def version_page(request: Request, viewer: Viewer) -> Response:
        name, text = request.path_params["model"], request.path_params["version"]
        if not text.isdigit() or not 1 <= int(text) <= MAX_VERSION:
            raise InvalidInputError(f"version {text!r} is not a version number (1, 2, …)")
        version = await asyncio.to_thread(registry.version, ctx.stores, name, int(text))
        summary = await asyncio.to_thread(registry.model, ctx.stores, name)
        aliases = sorted(a for a, v in summary.aliases.items() if v == version.version)
        tags = version.tags
        return html("version.html", viewer=viewer, version=version, aliases=aliases,
                    run=tags.get("shipyard.run"), bundle=tags.get(BUNDLE_TAG))  # fmt: skip

    return [
        Route("/", signed_in(models_page)),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/models/{model}", signed_in(model_page)),
        Route("/models/{model}/versions/{version}", signed_in(version_page)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def _page_number(text: str | None) -> int:
    if text is None:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"page {text!r} is not a page number (1, 2, …)")
    return int(text)
