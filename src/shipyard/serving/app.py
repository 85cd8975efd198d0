"""The HTTP application: KServe V1, Open Inference Protocol V2, health, metrics, feedback,
OpenAPI.

Inference paths go straight to the hot-path handler (``inference.py``); the
rest of the surface — health, metadata, metrics, feedback, OpenAPI and docs, and
the lifespan that drains the versions (and the prediction log) at shutdown — is
a small Starlette app.
Every answer carries ``x-request-id``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard import __version__
from shipyard.serving import metrics
from shipyard.serving.codec import ProtocolError
from shipyard.serving.config import Limits
from shipyard.serving.deployment import Deployment, VersionNotLoaded
from shipyard.serving.feedback import Feedback
from shipyard.serving.inference import Inference, match, request_id
from shipyard.serving.openapi import DOCS_HTML, openapi
from shipyard.serving.predictions import PredictionLog


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def create_app(
    deployment: Deployment,
    limits: Limits | None = None,
    *,
    access_log: bool = False,
    predictions: PredictionLog | None = None,
) -> ASGIApp:
    """The ASGI app serving ``deployment``'s versions (feedback needs ``predictions``)."""
    inference = Inference(deployment, limits or Limits(), access_log, predictions)
    rest = _surface(deployment, predictions)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await rest(scope, receive, send)  # lifespan
            return
        target = match(scope["path"])
        if target is not None:
            await inference(target, scope, receive, send)
            return
        rid = request_id(dict(scope["headers"]))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":  # every answer, 404s included
                headers = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
                message = {**message, "headers": headers}
            await send(message)

        await rest(scope, receive, send_with_id)

    return app


def _surface(deployment: Deployment, predictions: PredictionLog | None) -> Starlette:
    """Everything but inference: health, metadata, metrics, feedback, OpenAPI, docs,
    lifespan."""
    feedback = (
        None
        if predictions is None
        else Feedback(predictions, deployment.settings.deployment, deployment.model)
    )

    def plain(handler: Callable[[Request], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return _json(handler(request))
            except ProtocolError as err:
                return _json({"error": err.message}, err.status)
            except VersionNotLoaded as err:
                return _json({"error": err.message}, 404)

        return endpoint

    def check_model(request: Request) -> None:
        name = request.path_params["name"]
        if name != deployment.model:
            raise ProtocolError(
                f"unknown model {name!r}; this server serves {deployment.model!r}", 404
            )

    def model_metadata(request: Request) -> Any:
        check_model(request)
        loaded = deployment.described(request.path_params.get("version")).loaded
        signature = loaded.signature
        return {
            "name": loaded.name,
            "versions": sorted(deployment.versions, key=int),
            "platform": loaded.flavor,
            "inputs": [] if signature is None else orjson.loads(orjson.dumps(signature.inputs)),
            "outputs": [] if signature is None else orjson.loads(orjson.dumps(signature.outputs)),
        }

    def model_ready(request: Request) -> Any:
        check_model(request)
        version = request.path_params.get("version")
        if version is not None:
            deployment.described(version)
        elif not deployment.ready():
            raise ProtocolError(f"model {deployment.model!r} is not ready", 503)
        return {"name": deployment.model, "ready": True}

    def server_ready(request: Request) -> Any:
        if not deployment.ready():
            raise ProtocolError(
                "not ready: shutting down" if deployment.draining else "not ready", 503
            )
        return {"ready": True}

    async def metrics_page(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    async def feedback_endpoint(request: Request) -> Response:
        try:
            check_model(request)
            if feedback is None:
                raise ProtocolError("this server keeps no prediction log, so no feedback", 404)
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError as err:
                raise ProtocolError(f"malformed JSON: {err}") from None
            return _json(await feedback(body))
        except ProtocolError as err:
            return _json({"error": err.message}, err.status)

    async def openapi_json(request: Request) -> Response:
        return _json(openapi(deployment.model))

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML)

    routes = [
        Route("/v2/health/live", plain(lambda r: {"live": True})),
        Route("/v2/health/ready", plain(server_ready)),
        Route("/healthz", plain(lambda r: {"status": "ok"})),
        Route(
            "/v2", plain(lambda r: {"name": "shipyard", "version": __version__, "extensions": []})
        ),
        Route("/v2/models/{name}", plain(model_metadata)),
        Route("/v2/models/{name}/versions/{version}", plain(model_metadata)),
        Route("/v2/models/{name}/ready", plain(model_ready)),
        Route("/v2/models/{name}/versions/{version}/ready", plain(model_ready)),
        Route("/v1/models/{name}", plain(model_ready)),
        Route("/v1/models/{name}/feedback", feedback_endpoint, methods=["POST"]),
        Route("/v2/models/{name}/feedback", feedback_endpoint, methods=["POST"]),
        Route("/metrics", metrics_page),
        Route("/openapi.json", openapi_json),
        Route("/docs", docs),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await deployment.close()
        if predictions is not None:
            await asyncio.to_thread(predictions.close)

    return Starlette(routes=routes, lifespan=lifespan)
