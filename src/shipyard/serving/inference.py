"""The inference hot path: KServe V1 predict and V2 infer as a plain ASGI handler.

Every request here pays for each layer it crosses, so this path is written
against ASGI directly — no router, middleware or request object — while the
rest of the surface (health, metadata, metrics, docs) stays in Starlette.
Per request: match the path, pick a version (route table, route key or pin)
and hold it, read and parse the body, check it against that version's
signature, predict off the loop (batched when the model allows), encode, send,
then mirror the request to shadow versions, count its inputs into the reference's
bins (drift) and queue the prediction for the log feedback is joined to — after
the answer is sent, never failing it. Every answer carries
``x-request-id``; client mistakes are 4xx with ``{"error": ...}``; a model that
raises is a 500 with its message and the request id.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from starlette.types import Receive, Scope, Send

from shipyard.serving.batching import Overloaded
from shipyard.serving.codec import (
    ProtocolError,
    attach_binary,
    decode_v1,
    decode_v2,
    encode_v1,
    encode_v2,
)
from shipyard.serving.config import Limits
from shipyard.serving.deployment import Deployment, NotServing, VersionNotLoaded
from shipyard.serving.host import VersionHost
from shipyard.serving.logs import REQUEST_ID
from shipyard.serving.metrics import VersionMetrics
from shipyard.serving.predictions import PredictionLog

log = logging.getLogger("shipyard.serve")
access = logging.getLogger("shipyard.access")

ROUTE_KEY = b"x-shipyard-route-key"
PIN = b"x-shipyard-version"
CLIENT_GONE = 499  # the client closed the connection before the answer (nginx's code)

_PREFIX = os.urandom(8).hex()  # per process: ids stay unique across workers
_COUNTER = itertools.count()


def new_request_id() -> str:
    """A 32-hex-digit id, unique across worker processes, without a uuid4 per request."""
    return f"{_PREFIX}{next(_COUNTER):016x}"


def request_id(headers: dict[bytes, bytes]) -> str:
    """The client's ``x-request-id`` or a new one, set for this request's log lines."""
    given = headers.get(b"x-request-id")
    rid = given.decode("latin-1") if given else new_request_id()
    REQUEST_ID.set(rid)
    return rid


@dataclass(frozen=True, slots=True)
class Target:
    """What an inference path names."""

    protocol: str  # "v1" or "v2"
    model: str
    version: str | None


def match(path: str) -> Target | None:
    """``/v1/models/{m}:predict``, ``/v2/models/{m}/infer`` or ``…/versions/{v}/infer``."""
    if path.startswith("/v1/models/") and path.endswith(":predict"):
        name = path[len("/v1/models/") : -len(":predict")]
        return Target("v1", name, None) if name and "/" not in name else None
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        parts = path[len("/v2/models/") : -len("/infer")].split("/")
        if len(parts) == 1 and parts[0]:
            return Target("v2", parts[0], None)
        if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
            return Target("v2", parts[0], parts[2])
    return None


class _ClientGone(Exception):
    pass


class Inference:
    """Answers inference requests for one deployment."""

    def __init__(
        self,
        deployment: Deployment,
        limits: Limits,
        access_log: bool,
        predictions: PredictionLog | None = None,
    ) -> None:
        self.deployment = deployment
        self.limits = limits
        self.access_log = access_log
        self.predictions = predictions
        self.unrouted = VersionMetrics(deployment.settings.deployment, deployment.model, "")
        self._mirrors: set[asyncio.Task[None]] = set()

    async def __call__(self, target: Target, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = dict(scope["headers"])
        rid = request_id(headers)
        host: VersionHost | None = None
        code = CLIENT_GONE
        try:
            try:
                host, pinned, route_key = self._choose(target, scope, headers)
            except ProtocolError as err:
                code, payload = err.status, orjson.dumps({"error": err.message})
                done = None
            else:
                code, payload, done = await self._answer(
                    target.protocol, host, pinned, route_key, receive, headers, rid
                )
            if code != CLIENT_GONE:
                await _send(send, code, payload, rid)
            if done is not None and host is not None:
                self._observe(host, rid, *done)
        finally:
            seconds = time.perf_counter() - started
            if host is not None:
                self.deployment.in_flight -= 1
                host.release()
            (host.metrics if host is not None else self.unrouted).request(
                target.protocol, code, seconds
            )
            if self.access_log:
                self._log(scope, code, host, seconds)

    def _choose(
        self, target: Target, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[VersionHost, str | None, str | None]:
        """The version that answers (held), the pinned version and the route key."""
        deployment = self.deployment
        if scope["method"] != "POST":
            raise ProtocolError(f"use POST for {scope['path']}", 405)
        if target.model != deployment.model:
            raise ProtocolError(
                f"unknown model {target.model!r}; this server serves {deployment.model!r}", 404
            )
        if deployment.in_flight >= deployment.settings.max_concurrent:
            raise ProtocolError("server busy: too many requests in flight", 503)
        pin = headers.get(PIN)
        pinned = target.version or (pin.decode("latin-1") if pin else None)
        key = headers.get(ROUTE_KEY)
        route_key = key.decode("latin-1") if key else None
        try:
            host = deployment.pick(pinned, route_key)
        except VersionNotLoaded as err:
            raise ProtocolError(err.message, 404) from None
        except NotServing as err:
            raise ProtocolError(err.message, 503) from None
        deployment.in_flight += 1
        return host, pinned, route_key

    async def _answer(
        self,
        protocol: str,
        host: VersionHost,
        pinned: str | None,
        route_key: str | None,
        receive: Receive,
        headers: dict[bytes, bytes],
        rid: str,
    ) -> tuple[int, bytes, tuple[Any, Any] | None]:
        """The status and body of the answer, and the inputs and outputs when answered."""
        try:
            body = await self._body(headers, receive)
            answer, inputs, outputs = await self._predict(protocol, host, body, rid)
            if pinned is None:
                self._shadow(self.deployment.shadows(route_key), inputs, outputs)
            return 200, orjson.dumps(answer), (inputs, outputs)
        except _ClientGone:
            return CLIENT_GONE, b"", None
        except ProtocolError as err:
            return err.status, orjson.dumps({"error": err.message}), None
        except Overloaded as err:
            return 503, orjson.dumps({"error": f"server busy: {err}"}), None
        except TimeoutError:
            message = f"the model did not answer within {self.limits.timeout_s:g} s"
            return 408, orjson.dumps({"error": message}), None
        except Exception as err:  # the model's own failure: say so, keep serving
            log.exception("predict failed")
            message = f"the model failed: {type(err).__name__}: {err}"
            return 500, orjson.dumps({"error": message, "request_id": rid}), None

    def _observe(self, host: VersionHost, rid: str, inputs: Any, outputs: Any) -> None:
        """After an answer: its rows into the drift bins, its prediction into the log."""
        try:
            if host.inputs is not None:
                host.inputs.observe(inputs)
            if self.predictions is not None and not self.predictions.record(
                rid, host.loaded.version, outputs
            ):
                host.metrics.dropped()
        except Exception:  # bookkeeping must never cost an answer
            log.exception("counting an answered request failed")

    async def _body(self, headers: dict[bytes, bytes], receive: Receive) -> Any:
        limit = self.limits.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ProtocolError(
                f"body of {declared.decode()} bytes is over the limit of {limit}", 413
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ProtocolError(f"body is over the limit of {limit} bytes", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        header = headers.get(b"inference-header-content-length")
        if header is None:
            return _loads(raw)
        if not header.isdigit() or int(header) > len(raw):
            raise ProtocolError(f"Inference-Header-Content-Length {header.decode()!r} is wrong")
        return attach_binary(_loads(raw[: int(header)]), raw[int(header) :])

    async def _predict(
        self, protocol: str, host: VersionHost, body: Any, rid: str
    ) -> tuple[Any, Any, Any]:
        """The answer document, the model's inputs and its outputs."""
        loaded, timeout = host.loaded, self.limits.timeout_s
        if protocol == "v1":
            inputs = decode_v1(body, loaded.signature)
            outputs = await host.predict(inputs, timeout)
            return encode_v1(outputs), inputs, outputs
        tensors = decode_v2(body, loaded.signature)
        inputs = tensors[0].array if len(tensors) == 1 else {t.name: t.array for t in tensors}
        outputs = await host.predict(inputs, timeout)
        answer = {
            "model_name": loaded.name,
            "model_version": loaded.version,
            "id": body.get("id", rid),
            "outputs": encode_v2(outputs, loaded.signature),
        }
        return answer, inputs, outputs

    def _shadow(self, hosts: list[VersionHost], inputs: Any, answer: Any) -> None:
        for host in hosts:
            if host.held > self.deployment.settings.max_concurrent:  # a slow shadow: skip
                host.release()
                host.metrics.shadowed("dropped")
                continue
            task = asyncio.get_running_loop().create_task(self._mirror(host, inputs, answer))
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)

    async def _mirror(self, host: VersionHost, inputs: Any, answer: Any) -> None:
        """A shadow's answer to a copy of the request: compared, counted, discarded."""
        try:
            outputs = await host.predict(inputs, self.limits.timeout_s)
            same = np.array_equal(np.asarray(outputs), np.asarray(answer))
            host.metrics.shadowed("match" if same else "mismatch")
        except Overloaded:
            host.metrics.shadowed("dropped")
        except Exception:
            host.metrics.shadowed("error")
        finally:
            host.release()

    def _log(self, scope: Scope, code: int, host: VersionHost | None, seconds: float) -> None:
        access.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            code,
            extra={
                "status": code,
                "version": host.loaded.version if host is not None else None,
                "duration_ms": round(seconds * 1000, 3),
            },
        )


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise ProtocolError(f"malformed JSON: {err}") from None


async def _send(send: Send, status: int, payload: bytes, request_id: str) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", request_id.encode("latin-1")),
    ]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
