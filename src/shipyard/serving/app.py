"""The HTTP application: KServe V1, Open Inference Protocol V2, health, metrics, OpenAPI.

A thin ASGI layer (Starlette) over the codec and the model host: parse, check,
predict off the loop, encode. Every answer carries ``x-request-id``; every
client mistake is a 4xx with ``{"error": ...}``; a model that raises is a 500
with its message and the request id, and the worker keeps serving.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shipyard import __version__
from shipyard.serving import metrics
from shipyard.serving.batching import Overloaded
from shipyard.serving.codec import ProtocolError, decode_v1, decode_v2, encode_v1, encode_v2
from shipyard.serving.host import ModelHost
from shipyard.serving.openapi import DOCS_HTML, openapi

log = logging.getLogger("shipyard.serve")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost."""

    max_body_bytes: int = 8 * 1024 * 1024
    timeout_s: float = 30.0


def _json(data: Any, status: int = 200, request_id: str = "") -> Response:
    return Response(
        orjson.dumps(data),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id} if request_id else None,
    )


def create_app(host: ModelHost, limits: Limits | None = None) -> Starlette:
    """The ASGI app serving ``host``'s model."""
    limits = limits or Limits()
    loaded = host.loaded
    labels = {"model": loaded.name, "version": loaded.version}

    def request_id(request: Request) -> str:
        return request.headers.get("x-request-id") or uuid.uuid4().hex

    def check_model(request: Request) -> None:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        if name != loaded.name:
            raise ProtocolError(f"unknown model {name!r}; this server serves {loaded.name!r}", 404)
        if version is not None and version != loaded.version:
            raise ProtocolError(
                f"model {name!r} has no loaded version {version!r}; loaded: {loaded.version}", 404
            )

    async def read_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise ProtocolError(
                f"body of {declared} bytes is over the limit of {limits.max_body_bytes}", 413
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise ProtocolError(f"body is over the limit of {limits.max_body_bytes} bytes", 413)
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError as err:
            raise ProtocolError(f"malformed JSON: {err}") from None

    def inference(
        protocol: str, handler: Callable[[Request, str], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            rid = request_id(request)
            started = time.perf_counter()
            code = 200
            try:
                check_model(request)
                if host.busy():
                    code = 503
                    response = _json(
                        {"error": "server busy: too many requests in flight"}, 503, rid
                    )
                    response.headers["retry-after"] = "1"
                    return response
                return _json(await handler(request, rid), 200, rid)
            except ProtocolError as err:
                code = err.status
                return _json({"error": err.message}, err.status, rid)
            except Overloaded as err:
                code = 503
                response = _json({"error": f"server busy: {err}"}, 503, rid)
                response.headers["retry-after"] = "1"
                return response
            except TimeoutError:
                code = 408
                return _json(
                    {"error": f"the model did not answer within {limits.timeout_s:g} s"}, 408, rid
                )
            except Exception as err:  # the model's own failure: say so, keep serving
                code = 500
                log.exception("predict failed (request %s)", rid)
                return _json(
                    {"error": f"the model failed: {type(err).__name__}: {err}", "request_id": rid},
                    500,
                    rid,
                )
            finally:
                metrics.REQUESTS.labels(**labels, protocol=protocol, code=str(code)).inc()
                metrics.REQUEST_SECONDS.labels(**labels, protocol=protocol).observe(
                    time.perf_counter() - started
                )

        return endpoint

    async def run_model(inputs: Any) -> Any:
        started = time.perf_counter()
        outputs = await host.predict(inputs, limits.timeout_s)
        metrics.INFERENCE_SECONDS.labels(**labels).observe(time.perf_counter() - started)
        for value, count in _counted(outputs):
            metrics.PREDICTIONS.labels(**labels, value=value).inc(count)
        return outputs

    async def v2_infer(request: Request, rid: str) -> Any:
        body = await read_json(request)
        tensors = decode_v2(body, loaded.signature)
        inputs = tensors[0].array if len(tensors) == 1 else {t.name: t.array for t in tensors}
        outputs = await run_model(inputs)
        answer = {
            "model_name": loaded.name,
            "model_version": loaded.version,
            "id": body.get("id", rid),
            "outputs": encode_v2(outputs, loaded.signature),
        }
        return answer

    async def v1_predict(request: Request, rid: str) -> Any:
        return encode_v1(await run_model(decode_v1(await read_json(request), loaded.signature)))

    def plain(handler: Callable[[Request], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            rid = request_id(request)
            try:
                return _json(handler(request), 200, rid)
            except ProtocolError as err:
                return _json({"error": err.message}, err.status, rid)

        return endpoint

    def model_metadata(request: Request) -> Any:
        check_model(request)
        signature = loaded.signature
        return {
            "name": loaded.name,
            "versions": [loaded.version],
            "platform": loaded.flavor,
            "inputs": [] if signature is None else orjson.loads(orjson.dumps(signature.inputs)),
            "outputs": [] if signature is None else orjson.loads(orjson.dumps(signature.outputs)),
        }

    def model_ready(request: Request) -> Any:
        check_model(request)
        if not host.ready:
            raise ProtocolError("model is not ready", 503)
        return {"name": loaded.name, "ready": True}

    def server_ready(request: Request) -> Any:
        if not host.ready:
            raise ProtocolError("not ready: shutting down", 503)
        return {"ready": True}

    async def metrics_page(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    async def openapi_json(request: Request) -> Response:
        return _json(openapi(loaded.name))

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML)

    infer = inference("v2", v2_infer)
    predict = inference("v1", v1_predict)
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
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
        Route("/v1/models/{name}:predict", predict, methods=["POST"]),
        Route("/v1/models/{name}", plain(model_ready)),
        Route("/metrics", metrics_page),
        Route("/openapi.json", openapi_json),
        Route("/docs", docs),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        host.close()

    return Starlette(routes=routes, lifespan=lifespan)


def _counted(outputs: Any) -> list[tuple[str, int]]:
    """Class labels and how often each was predicted (none for regressions): one metric
    update per distinct class, not per row, on the request path."""
    import numpy as np

    array = np.asarray(outputs)
    if array.ndim != 1 or array.dtype.kind not in "iuUSOb":
        return []
    values, counts = np.unique(array, return_counts=True)
    return [(str(v), int(c)) for v, c in zip(values.tolist(), counts.tolist(), strict=True)]
