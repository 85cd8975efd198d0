"""``/info``: which Shipyard this is, where its stores are, and who is asking."""

from __future__ import annotations

import os
from typing import Any

from shipyard import __version__
from shipyard.controlplane.api import Call, Operation


async def info(call: Call) -> Any:
    return {
        "version": __version__,
        "home": call.ctx.home,
        "pid": os.getpid(),
        "store": call.ctx.store_location,
        "artifacts": call.ctx.artifacts_location,
        "identity": {"name": call.identity.name, "scopes": sorted(call.identity.scopes)},
    }


OPERATIONS = (
    Operation("GET", "/info", "read", "Server version, stores, and the caller's identity", info),
)
