"""The lower bound: the least a Python model server must do per request, on the ceiling's stack.

Read the body, parse the JSON, make the row an array, predict — every request that
arrived in one turn of the event loop in one call, on the loop itself, so no thread
hand-off — and encode the answer. No shape or type check, no request id, metrics,
prediction log, drift bins, version routing or error answers: a server a user
could run, but not one they should. Its share of the ceiling says how much of the
ceiling any server can reach with this model on this machine.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np
import orjson
from skops import io as skops_io

MODEL = skops_io.load(
    os.environ["BENCH_MODEL"], trusted=[t for t in os.environ["BENCH_TRUST"].split(",") if t]
)
_waiting: list[tuple[Any, asyncio.Future[Any]]] = []


def _predict_waiting() -> None:
    batch = _waiting[:]
    _waiting.clear()
    classes = MODEL.predict(np.vstack([rows for rows, _ in batch]))
    start = 0
    for rows, answer in batch:
        answer.set_result(classes[start : start + len(rows)])
        start += len(rows)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["path"] == "/ready":
        payload = b"{}"
    else:
        rows = np.asarray(orjson.loads(b"".join(chunks))["instances"], dtype=np.float64)
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        if not _waiting:
            loop.call_soon(_predict_waiting)
        _waiting.append((rows, answer))
        payload = orjson.dumps({"predictions": (await answer).tolist()})
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": payload})
