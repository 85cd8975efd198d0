"""``/events``: the append-only audit log, oldest first, filtered and paged."""

from __future__ import annotations

from typing import Any

from shipyard.controlplane.api import Call, Operation
from shipyard.errors import InvalidInputError
from shipyard.registry import service as registry


def paging(call: Call) -> tuple[int, int, int | None]:
    """``after`` and ``before`` (event ids) and ``limit`` from the query string, checked."""
    try:
        after = int(call.query("after") or "0")
        limit = int(call.query("limit") or "100")
        before = call.query("before")
        before_id = None if before is None else int(before)
    except ValueError:
        raise InvalidInputError("after, before and limit must be integers") from None
    if not (0 <= after < 2**63 and 1 <= limit <= 100_000):
        raise InvalidInputError("after: 0 to 2^63-1; limit: 1 to 100000")
    if before_id is not None and not 1 <= before_id < 2**63:
        raise InvalidInputError("before: 1 to 2^63-1")
    return after, limit, before_id


async def events(call: Call) -> Any:
    after, limit, before = paging(call)
    return await call.run(
        lambda: registry.events(
            call.ctx.stores,
            model=call.query("model"),
            after_id=after,
            limit=limit,
            kind=call.query("kind"),
            kind_prefix=call.query("kind_prefix"),
            deployment=call.query("deployment"),
            before_id=before,
            actor=call.query("actor"),
        )
    )


OPERATIONS = (
    Operation(
        "GET",
        "/events",
        "read",
        "The audit log, oldest first (limit keeps the newest)",
        events,
        query=(
            ("after", "integer"),
            ("limit", "integer"),
            ("model", "string"),
            ("kind", "string"),
            ("kind_prefix", "string"),
            ("deployment", "string"),
            ("before", "integer"),
            ("actor", "string"),
        ),
    ),
)
