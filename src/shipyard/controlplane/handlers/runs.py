"""``/runs`` and ``/cache``: pipeline runs recorded by the agents that ran them, and the
stage cache they share."""

from __future__ import annotations

from typing import Any

from shipyard.controlplane.api import Call, Operation
from shipyard.controlplane.schema import FinishBody
from shipyard.errors import InvalidInputError
from shipyard.pipeline import runs
from shipyard.store import CacheEntry, Run, StageRun


async def create_run(call: Call) -> Any:
    run = await call.body(Run)
    return await call.run(runs.start_run, call.ctx.stores, run, call.actor)


async def update_stage(call: Call) -> Any:
    stage = await call.body(StageRun)
    if stage.name != call.path("stage"):
        raise InvalidInputError(
            f"the body is stage {stage.name!r}, the path {call.path('stage')!r}"
        )
    await call.run(runs.update_stage, call.ctx.stores, call.path("id"), stage)
    return {"updated": stage.name}


async def finish_run(call: Call) -> Any:
    body = await call.body(FinishBody)
    return await call.run(
        runs.finish_run, call.ctx.stores, call.path("id"), body.status, body.error
    )


async def get_run(call: Call) -> Any:
    return await call.run(runs.get_run, call.ctx.stores, call.path("id"))


async def list_runs(call: Call) -> Any:
    try:
        limit = int(call.query("limit") or "20")
    except ValueError:
        raise InvalidInputError("limit must be an integer") from None
    return await call.run(
        lambda: runs.list_runs(call.ctx.stores, project=call.query("project"), limit=limit)
    )


async def cache_get(call: Call) -> Any:
    entry = await call.run(runs.cached, call.ctx.stores, call.path("fingerprint"))
    return {"entry": entry}


async def cache_put(call: Call) -> Any:
    entry = await call.body(CacheEntry)
    if entry.fingerprint != call.path("fingerprint"):
        raise InvalidInputError("the body's fingerprint is not the path's")
    await call.run(runs.remember, call.ctx.stores, entry)
    return {"stored": entry.fingerprint}


OPERATIONS = (
    Operation(
        "GET",
        "/runs",
        "read",
        "The newest runs first (?project, ?limit)",
        list_runs,
        query=(("project", "string"), ("limit", "integer")),
    ),
    Operation(
        "POST", "/runs", "register", "Record a run that starts", create_run, body=Run, status=201
    ),
    Operation("GET", "/runs/{id}", "read", "A run by id or unique prefix", get_run, codes=(404,)),
    Operation(
        "PUT",
        "/runs/{id}/stages/{stage}",
        "register",
        "Replace one stage's record",
        update_stage,
        body=StageRun,
        codes=(400, 404),
    ),
    Operation(
        "POST",
        "/runs/{id}/finish",
        "register",
        "Close a run",
        finish_run,
        body=FinishBody,
        codes=(400, 404),
    ),
    Operation(
        "GET",
        "/cache/{fingerprint}",
        "read",
        "What a stage with this fingerprint produced ({entry: null} if nothing)",
        cache_get,
    ),
    Operation(
        "PUT",
        "/cache/{fingerprint}",
        "register",
        "Remember a stage's outputs (the first entry wins)",
        cache_put,
        body=CacheEntry,
        codes=(400,),
    ),
)
