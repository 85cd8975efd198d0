"""``/tokens``: make, list and revoke named tokens (admin only; secrets are shown once)."""

from __future__ import annotations

from typing import Any

from shipyard.controlplane import access
from shipyard.controlplane.api import Call, Operation
from shipyard.controlplane.schema import TokenBody


async def create(call: Call) -> Any:
    body = await call.body(TokenBody)
    scopes = access.parse_scopes(",".join(body.scopes))
    record, token = await call.run(
        access.create_token, call.ctx.stores, body.name, scopes, call.actor
    )
    return {**access.shown_token(record), "token": token}


async def list_tokens(call: Call) -> Any:
    return [access.shown_token(r) for r in await call.run(access.list_tokens, call.ctx.stores)]


async def revoke(call: Call) -> Any:
    record = await call.run(access.revoke_token, call.ctx.stores, call.path("name"), call.actor)
    return access.shown_token(record)


OPERATIONS = (
    Operation(
        "POST",
        "/tokens",
        "admin",
        "Make a named token (its secret is in this answer only)",
        create,
        body=TokenBody,
        status=201,
        codes=(400, 409),
    ),
    Operation("GET", "/tokens", "admin", "Every token, revoked ones too (no secrets)", list_tokens),
    Operation("DELETE", "/tokens/{name}", "admin", "Revoke a token by name", revoke, codes=(404,)),
)
