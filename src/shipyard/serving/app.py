"""The HTTP application: KServe V1, Open Inference Protocol V2, health, metrics, OpenAPI.

A thin ASGI layer (Starlette) over the codec and the deployment: pick a
version (by route table, route key or pin), parse and check against that
version's signature, predict off the loop, encode, and mirror the request to
shadow versions after answering. Every answer carries ``x-request-id``; every
client mistake is a 4xx with ``{"error": ...}``; a model that raises is a 500
with its message and the request id, and the worker keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shipyard import __version__
from shipyard.serving import metrics
from shipyard.serving.batching import Overloaded
from shipyard.serving.codec import ProtocolError, decode_v1, decode_v2, encode_v1, encode_v2
from shipyard.serving.config import Limits
from shipyard.serving.deployment import Deployment
from shipyard.serving.host import VersionHost
from shipyard.serving.logs import REQUEST_ID
from shipyard.serving.openapi import DOCS_HTML, openapi

log = logging.getLogger("shipyard.serve")
access = logging.getLogger("shipyard.access")

ROUTE_KEY = "x-shipyard-route-key"
PIN = "x-shipyard-version"


def _json(data: Any, status: int = 200, request_id: str = "") -> Response:
    return Response(
        orjson.dumps(data),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id} if request_id else None,
    )


def _busy(message: str, request_id: str) -> Response:
    response = _json({"error": f"server busy: {message}"}, 503, request_id)
    response.headers["retry-after"] = "1"
    return response


def _request_id(request: Request) -> str:
    rid = request.headers.get("x-request-id") or uuid.uuid4().hex
    REQUEST_ID.set(rid)
    return rid


def create_app(
    deployment: Deployment, limits: Limits | None = None, *, access_log: bool = False
) -> Starlette:
    """The ASGI app serving ``deployment``'s versions."""
    limits = limits or Limits()
    unrouted = metrics.VersionMetrics(deployment.settings.deployment, deployment.model, "")
    mirrors: set[asyncio.Task[None]] = set()

    def check_model(request: Request) -> None:
        name = request.path_params["name"]
        if name != deployment.model:
            raise ProtocolError(
                f"unknown model {name!r}; this server serves {deployment.model!r}", 404
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

    async def run_model(host: VersionHost, inputs: Any) -> Any:
        started = time.perf_counter()
        outputs = await host.predict(inputs, limits.timeout_s)
        host.metrics.inference.observe(time.perf_counter() - started)
        for value, count in _counted(outputs):
            host.metrics.predicted(value, count)
        return outputs

    async def mirror(host: VersionHost, inputs: Any, answer: Any) -> None:
        try:
            outputs = await run_model(host, inputs)
            same = np.array_equal(np.asarray(outputs), np.asarray(answer))
            host.metrics.shadowed("match" if same else "mismatch")
        except Overloaded:
            host.metrics.shadowed("dropped")
        except Exception:
            host.metrics.shadowed("error")
        finally:
            host.release()

    def shadow(hosts: list[VersionHost], inputs: Any, answer: Any) -> None:
        for host in hosts:
            task = asyncio.get_running_loop().create_task(mirror(host, inputs, answer))
            mirrors.add(task)
            task.add_done_callback(mirrors.discard)

    Handler = Callable[[Request, VersionHost, str], Awaitable[tuple[Any, Any, Any]]]

    def inference(protocol: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            rid = _request_id(request)
            started = time.perf_counter()
            code = 200
            host: VersionHost | None = None
            try:
                check_model(request)
                if deployment.in_flight >= deployment.settings.max_concurrent:
                    code = 503
                    return _busy("too many requests in flight", rid)
                pinned = request.path_params.get("version") or request.headers.get(PIN)
                route_key = request.headers.get(ROUTE_KEY)
                host = deployment.pick(pinned, route_key)
                deployment.in_flight += 1
                answer, inputs, outputs = await handler(request, host, rid)
                if pinned is None:
                    shadow(deployment.shadows(route_key), inputs, outputs)
                return _json(answer, 200, rid)
            except ProtocolError as err:
                code = err.status
                return _json({"error": err.message}, err.status, rid)
            except Overloaded as err:
                code = 503
                return _busy(str(err), rid)
            except TimeoutError:
                code = 408
                return _json(
                    {"error": f"the model did not answer within {limits.timeout_s:g} s"}, 408, rid
                )
            except Exception as err:  # the model's own failure: say so, keep serving
                code = 500
                log.exception("predict failed")
                return _json(
                    {"error": f"the model failed: {type(err).__name__}: {err}", "request_id": rid},
                    500,
                    rid,
                )
            finally:
                seconds = time.perf_counter() - started
                if host is not None:
                    deployment.in_flight -= 1
                    host.release()
                (host.metrics if host is not None else unrouted).request(protocol, code, seconds)
                if access_log:
                    access.info(
                        "%s %s %d",
                        request.method,
                        request.url.path,
                        code,
                        extra={
                            "status": code,
                            "version": host.loaded.version if host is not None else None,
                            "duration_ms": round(seconds * 1000, 3),
                        },
                    )

        return endpoint

    async def v2_infer(request: Request, host: VersionHost, rid: str) -> tuple[Any, Any, Any]:
        body = await read_json(request)
        loaded = host.loaded
        tensors = decode_v2(body, loaded.signature)
        inputs = tensors[0].array if len(tensors) == 1 else {t.name: t.array for t in tensors}
        outputs = await run_model(host, inputs)
        answer = {
            "model_name": loaded.name,
            "model_version": loaded.version,
            "id": body.get("id", rid),
            "outputs": encode_v2(outputs, loaded.signature),
        }
        return answer, inputs, outputs

    async def v1_predict(request: Request, host: VersionHost, rid: str) -> tuple[Any, Any, Any]:
        inputs = decode_v1(await read_json(request), host.loaded.signature)
        outputs = await run_model(host, inputs)
        return encode_v1(outputs), inputs, outputs

    def plain(handler: Callable[[Request], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            rid = _request_id(request)
            try:
                return _json(handler(request), 200, rid)
            except ProtocolError as err:
                return _json({"error": err.message}, err.status, rid)

        return endpoint

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

    async def openapi_json(request: Request) -> Response:
        return _json(openapi(deployment.model))

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
        await deployment.close()

    return Starlette(routes=routes, lifespan=lifespan)


def _counted(outputs: Any) -> list[tuple[str, int]]:
    """Class labels and how often each was predicted (none for regressions): one metric
    update per distinct class, not per row, on the request path."""
    array = np.asarray(outputs)
    if array.ndim != 1 or array.dtype.kind not in "iuUSOb":
        return []
    values, counts = np.unique(array, return_counts=True)
    return [(str(v), int(c)) for v, c in zip(values.tolist(), counts.tolist(), strict=True)]
