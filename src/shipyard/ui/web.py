"""What every UI route shares: the security headers, who is looking, forms and origins.

Every answer carries a Content-Security-Policy that admits scripts, styles and images
from this server only (no inline script, no CDN), refuses framing, and keeps forms on
this origin. Forms that change something carry the session's CSRF secret and are
refused without it, and a POST from another origin is refused whatever it carries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from shipyard.controlplane.access import Identity
from shipyard.controlplane.api import error_status, read_body
from shipyard.errors import ShipyardError
from shipyard.ui.render import page
from shipyard.ui.sessions import Session

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
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: their identity and session (whose CSRF secret the forms carry)."""

    identity: Identity
    session: Session

    def can(self, scope: str) -> bool:
        """Whether to show the actions that need ``scope``."""
        return self.identity.allows(scope)


# A page's handler, given who is looking; and the wrapper that signs the viewer in first.
Handler = Callable[[Request, "Viewer"], Awaitable[Response]]
Guard = Callable[[Handler], Callable[[Request], Awaitable[Response]]]


class Static(StaticFiles):
    """The UI's own files, with its security headers (a script or style is never sniffed
    as something else)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update({**HEADERS, "cache-control": "no-cache"})
        return response


def html(template: str, status: int = 200, **values: Any) -> Response:
    """A page with the UI's security headers."""
    return HTMLResponse(page(template, **values), status, headers=HEADERS)


def local_path(target: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the first value of each), refusing a big body."""
    raw = await read_body(request, MAX_FORM, "the form")
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # an opaque origin ("null") is another site's sandbox
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def failed(err: ShipyardError, viewer: Viewer | None) -> Response:
    """The page for a refusal, with the status the REST API gives it (a 4xx for the
    caller's mistake, 503 for a store or model server that is down)."""
    return html("error.html", error_status(err), viewer=viewer, error=err.message, hint=err.hint)


def refused(viewer: Viewer, scope: str) -> Response:
    """The page for an action the signed-in token's scopes do not allow (403)."""
    hint = f"sign in with a token that has the {scope} scope; this one may only read"
    return html("error.html", 403, viewer=viewer, error=f"this needs the {scope} scope", hint=hint)
