"""``/ui/links``: a one-time link that signs a browser in to the web UI as the caller."""

from __future__ import annotations

from typing import Any

from shipyard.controlplane.api import Call, Operation
from shipyard.ui.sessions import LINK_S


async def sign_in_link(call: Call) -> Any:
    secret = call.ctx.sessions.link(call.request.headers.get("authorization", ""))
    return {"path": f"/signin/link/{secret}", "expires_in": LINK_S}


OPERATIONS = (
    Operation(
        "POST",
        "/ui/links",
        "read",
        f"A link that signs a browser in as the caller, once, within {LINK_S:g} s",
        sign_in_link,
        status=201,
    ),
)
