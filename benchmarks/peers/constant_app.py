"""The ceiling: a bare ASGI app on the same server that answers every request with a constant.

Nothing a model server does can be faster than this on the same machine, server
and worker count; Shipyard's throughput is reported as a share of it.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"predictions":[0]}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read (and drop) the request body, as a real server must
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": BODY})
