"""The admin interface of a server: load a version beside the others, set the route
table, drain and unload — every change applied to every worker.

It listens on a unix socket (and, if asked, on a loopback port), never on a
public address, and every request needs ``Authorization: Bearer <token>``.

    GET    /admin/v1/state
    POST   /admin/v1/versions            {"version": "4"}
    PUT    /admin/v1/routes              {"weights": {"3": 90, "4": 10}, "shadow": {"5": 20}}
    DELETE /admin/v1/versions/{version}
"""

from __future__ import annotations

import contextlib
import hmac
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.errors import NotFoundError, ShipyardError
from shipyard.serving.routing import route_table
from shipyard.serving.supervisor import CommandFailed, Supervisor, bind

MAX_BODY = 64 * 1024  # a route table is a few hundred bytes


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def create_admin_app(supervisor: Supervisor, token: str) -> Starlette:
    """The admin ASGI app for ``supervisor``."""
    expected = f"Bearer {token}".encode()

    def endpoint(
        handler: Callable[[Request], Awaitable[Any]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return _json(
                    {"error": "missing or wrong admin token (Authorization: Bearer …)"}, 401
                )
            try:
                await handler(request)
                return _json(await supervisor.state())
            except NotFoundError as err:
                return _json({"error": err.message}, 404)
            except CommandFailed as err:
                status = 409 if err.status == 400 else err.status
                return _json({"error": err.message}, status)
            except ShipyardError as err:
                return _json({"error": err.message}, 400)
            except TimeoutError:
                return _json({"error": "the workers did not answer in time"}, 504)

        return wrapped

    async def body(request: Request) -> Any:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                raise ShipyardError(f"the command is over {MAX_BODY} bytes")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise ShipyardError(f"malformed JSON: {err}") from None

    async def state(request: Request) -> None:
        return None

    async def load(request: Request) -> None:
        data = await body(request)
        version = data.get("version") if isinstance(data, dict) else None
        if not isinstance(version, str | int) or not str(version).isdigit():
            raise ShipyardError('expected {"version": "<number>"}')
        supervisor.check_version(str(version))
        await supervisor.load(str(int(version)))

    async def routes(request: Request) -> None:
        data = await body(request)
        table = route_table(data)  # a clear 400 before any worker sees it
        await supervisor.set_routes(table)

    async def unload(request: Request) -> None:
        given = request.path_params["version"]
        version = str(int(given)) if given.isascii() and given.isdigit() else given
        if version not in supervisor.versions:
            raise NotFoundError(
                f"version {given!r} is not loaded; loaded: {', '.join(supervisor.versions)}"
            )
        await supervisor.unload(version)

    return Starlette(
        routes=[
            Route("/admin/v1/state", endpoint(state)),
            Route("/admin/v1/versions", endpoint(load), methods=["POST"]),
            Route("/admin/v1/routes", endpoint(routes), methods=["PUT"]),
            Route("/admin/v1/versions/{version}", endpoint(unload), methods=["DELETE"]),
        ]
    )


class AdminServer(uvicorn.Server):
    """uvicorn for the admin app inside the supervisor's loop: signals are the supervisor's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def admin_sockets(path: Path, port: int | None) -> list[socket.socket]:
    """The admin interface's sockets: a unix socket only this user can open, and loopback."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(path))
    path.chmod(0o600)
    sockets = [unix]
    if port is not None:
        sockets.append(bind("127.0.0.1", port))
    for sock in sockets:
        sock.listen(64)
    return sockets


def admin_server(supervisor: Supervisor, token: str) -> AdminServer:
    """The admin interface, to be served on ``admin_sockets``."""
    app = create_admin_app(supervisor, token)
    config = uvicorn.Config(app, log_config=None, lifespan="off", timeout_graceful_shutdown=2)
    return AdminServer(config)
