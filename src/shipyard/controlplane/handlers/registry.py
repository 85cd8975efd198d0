"""``/models``: registered models, their immutable versions, aliases and alias history."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shipyard.controlplane.api import Call, Operation
from shipyard.controlplane.schema import AliasMoveBody
from shipyard.refs import parse_version, whole_number
from shipyard.registry import aliases
from shipyard.registry import service as registry
from shipyard.store import VersionDraft


def _number(call: Call) -> int:
    return parse_version(call.path("version"))


async def list_models(call: Call) -> Any:
    return await call.run(registry.models, call.ctx.stores)


async def get_model(call: Call) -> Any:
    return await call.run(registry.model, call.ctx.stores, call.path("model"))


def _query_number(call: Call, key: str) -> int | None:
    text = call.query(key)
    return None if text is None else whole_number(text, key)


async def list_versions(call: Call) -> Any:
    stores, name = call.ctx.stores, call.path("model")
    digest = call.query("content_digest")
    if digest is None:
        below, limit = _query_number(call, "below"), _query_number(call, "limit")
        return await call.run(lambda: registry.versions(stores, name, below=below, limit=limit))
    found = await call.run(registry.find_version, stores, name, digest)
    return [] if found is None else [found]


async def get_version(call: Call) -> Any:
    return await call.run(registry.version, call.ctx.stores, call.path("model"), _number(call))


async def add_version(call: Call) -> Any:
    draft = replace(await call.body(VersionDraft), created_by=call.actor)
    version, created = await call.run(
        registry.add_version, call.ctx.stores, call.path("model"), draft
    )
    return {"version": version, "created": created}


async def resolve_alias(call: Call) -> Any:
    stores, name, alias = call.ctx.stores, call.path("model"), call.path("alias")
    return {"version": await call.run(aliases.alias_target, stores, name, alias)}


async def move_alias(call: Call) -> Any:
    body = await call.body(AliasMoveBody)
    return await call.run(
        lambda: aliases.move_alias(
            call.ctx.stores,
            call.path("model"),
            call.path("alias"),
            body.to_version,
            action=body.action,
            actor=call.actor,
            reason=body.reason,
            expect_last_move=body.expect_last_move,
        )
    )


async def alias_history(call: Call) -> Any:
    stores, name = call.ctx.stores, call.path("model")
    return await call.run(aliases.alias_history, stores, name, call.query("alias"))


_MODEL = "/models/{model}"
OPERATIONS = (
    Operation(
        "GET", "/models", "read", "Every model with its latest version and aliases", list_models
    ),
    Operation("GET", _MODEL, "read", "One model", get_model, codes=(404,)),
    Operation(
        "GET",
        f"{_MODEL}/versions",
        "read",
        "Every version, oldest first (?below, ?limit: the newest limit under below; "
        "?content_digest: the one with that content, if any)",
        list_versions,
        query=(("content_digest", "string"), ("below", "integer"), ("limit", "integer")),
        codes=(404,),
    ),
    Operation(
        "POST",
        f"{_MODEL}/versions",
        "register",
        "Register a version whose blobs are uploaded (same content: the existing version)",
        add_version,
        body=VersionDraft,
        codes=(400, 404),
    ),
    Operation(
        "GET", f"{_MODEL}/versions/{{version}}", "read", "One version", get_version, codes=(404,)
    ),
    Operation(
        "GET",
        f"{_MODEL}/aliases/{{alias}}",
        "read",
        "The version an alias points at",
        resolve_alias,
        codes=(404,),
    ),
    Operation(
        "POST",
        f"{_MODEL}/aliases/{{alias}}",
        "register",
        "Move an alias (set, rollback, delete), with its history entry and event",
        move_alias,
        body=AliasMoveBody,
        codes=(400, 404, 409),
    ),
    Operation(
        "GET",
        f"{_MODEL}/history",
        "read",
        "Every alias move, oldest first (?alias: one alias)",
        alias_history,
        query=(("alias", "string"),),
        codes=(404,),
    ),
)
