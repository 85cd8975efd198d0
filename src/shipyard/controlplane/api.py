"""How the control plane's endpoints are declared and guarded.

Every endpoint is an ``Operation``: method, path, the scope it needs, a summary,
its body model and its handler. ``route`` wraps a handler with the checks every
call gets — the token (401), the scope (403), the body (400) — and maps errors to
``{"error", "hint", "exit_code"}`` with the status their kind calls for, so the
CLI shows the same message and exits with the same code as a local run. The
OpenAPI document is generated from the same declarations, so a route cannot go
undocumented or unguarded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard import jsonio
from shipyard.controlplane.access import Identity
from shipyard.errors import AuthError, InvalidInputError, ShipyardError, StoreError
from shipyard.targets.contract import TargetError

if TYPE_CHECKING:
    from shipyard.controlplane.context import ServerContext

MAX_BODY = 256 * 1024
STATUS = {2: 400, 3: 422, 4: 404, 5: 422, 6: 503, 8: 409}  # exit code → HTTP status
_log = logging.getLogger("shipyard.controlplane")
B = TypeVar("B")


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a handler sees it: who made it, and the server's services."""

    request: Request
    identity: Identity
    ctx: ServerContext

    @property
    def actor(self) -> str:
        """The name the events of this call record."""
        return self.identity.name

    def path(self, key: str) -> str:
        """A path parameter."""
        return str(self.request.path_params[key])

    def query(self, key: str, default: str | None = None) -> str | None:
        """A query parameter."""
        return self.request.query_params.get(key, default)

    async def body(self, model: type[B]) -> B:
        """The JSON body checked by ``model`` — a pydantic model or a record (dataclass) —
        with a 400 for anything else."""
        raw = await read_body(self.request, MAX_BODY, "the request body")
        try:
            data = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as err:
            raise InvalidInputError(f"the request body is not JSON: {err}") from None
        checked: B = adapter(model).validate_python(data)
        return checked

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a (blocking) service function off the event loop."""
        return await asyncio.to_thread(fn, *args)


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """A request's body, refused (400) as soon as it grows past ``limit`` bytes."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise InvalidInputError(f"{what} is over {limit} bytes")
    return raw


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Operation:
    """One endpoint: what it does, what it needs, and what it answers."""

    method: str
    path: str  # under /api/v1
    scope: str  # read, register, deploy or admin
    summary: str
    handler: Handler
    body: type | None = None  # a pydantic model or a record (dataclass)
    status: int = 200
    query: tuple[tuple[str, str], ...] = ()  # (name, JSON type)
    codes: tuple[int, ...] = ()  # error statuses besides 401/403
    raw: bool = False  # the handler answers a Response itself (blobs)
    wakes: bool = field(default=False)  # a change the controller should act on now


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def adapter(model: type[B]) -> TypeAdapter[B]:
    """The pydantic validator (and JSON Schema) of a body type, built once."""
    found = _ADAPTERS.get(model)
    if found is None:
        found = _ADAPTERS[model] = TypeAdapter(model)
    return found


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON answer; records (dataclasses) are written as they are."""
    return Response(jsonio.dumps(data), status_code=status, media_type="application/json")


def error_status(err: ShipyardError) -> int:
    """The HTTP status of a refusal (what the REST API and the UI answer)."""
    if isinstance(err, AuthError):
        return err.status
    if isinstance(err, TargetError):
        return 503  # the model server is down or busy: not the caller's mistake
    return STATUS.get(err.exit_code, 400)


def error_response(err: ShipyardError) -> Response:
    """A refusal as the CLI expects it."""
    status = error_status(err)
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    body = {"error": err.message, "hint": err.hint, "exit_code": err.exit_code}
    return Response(jsonio.dumps(body), status, headers, media_type="application/json")


def _validation_response(err: ValidationError) -> Response:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    more = f" ({len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    body = {"error": f"{where}: {first['msg']}{more}", "hint": "see /openapi.json", "exit_code": 2}
    return json_response(body, 400)


def route(op: Operation, ctx: ServerContext) -> Route:
    """The starlette route of an operation, with its token, scope and error handling."""

    async def endpoint(request: Request) -> Response:
        try:
            identity = await asyncio.to_thread(
                ctx.authenticator.identify,
                request.headers.get("authorization", ""),
                request.headers.get("x-shipyard-actor"),
            )
            identity.require(op.scope)
            result = await op.handler(Call(request, identity, ctx))
        except ValidationError as err:
            return _validation_response(err)
        except StoreError as err:
            _log.warning("%s %s: %s", op.method, op.path, err.message)
            return error_response(err)
        except ShipyardError as err:
            return error_response(err)
        if op.wakes:
            ctx.controller.wake()
        return result if op.raw else json_response(result, op.status)

    return Route(f"/api/v1{op.path}", endpoint, methods=[op.method])
