"""``/blobs``: artifacts up and down, streamed (a 1 GB model never sits in memory) and
content-addressed (``sha256:…``): an upload whose bytes hash to anything but the digest
in its path is refused, and leaves no blob."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio.from_thread
import anyio.to_thread
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from shipyard.controlplane.api import Call, Operation, json_response
from shipyard.registry import blobs


async def head_blob(call: Call) -> Any:
    digest = call.path("digest")
    if not await call.run(blobs.has_blob, call.ctx.stores, digest):
        return Response(status_code=404)
    size = await call.run(blobs.blob_size, call.ctx.stores, digest)
    return Response(headers={"content-length": str(size)})


async def get_blob(call: Call) -> Any:
    digest = call.path("digest")
    size = await call.run(blobs.blob_size, call.ctx.stores, digest)
    chunks = await call.run(blobs.read_blob, call.ctx.stores, digest)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"content-length": str(size), "x-shipyard-digest": digest},
    )


async def put_blob(call: Call) -> Any:
    digest = call.path("digest")
    stream = call.request.stream().__aiter__()

    async def next_chunk() -> bytes:
        return await stream.__anext__()

    def parts() -> Iterator[bytes]:
        """The request body, pulled from the event loop one chunk at a time."""
        while True:
            try:
                chunk = anyio.from_thread.run(next_chunk)
            except StopAsyncIteration:
                return
            if chunk:
                yield chunk

    try:
        blob = await anyio.to_thread.run_sync(blobs.store_blob, call.ctx.stores, digest, parts())
    except ClientDisconnect:
        return Response(status_code=400)  # nobody reads it; nothing was stored
    return json_response({"digest": blob.digest, "size": blob.size}, 201)


_BLOB = "/blobs/{digest}"
OPERATIONS = (
    Operation(
        "HEAD", _BLOB, "read", "Whether the blob is stored (404 if not)", head_blob, raw=True
    ),
    Operation(
        "GET",
        _BLOB,
        "read",
        "A blob's bytes (verify them against the digest)",
        get_blob,
        raw=True,
        codes=(400, 404),
    ),
    Operation(
        "PUT",
        _BLOB,
        "register",
        "Upload a blob (application/octet-stream); refused unless it hashes to the digest",
        put_blob,
        raw=True,
        status=201,
        codes=(400, 422),
    ),
)
