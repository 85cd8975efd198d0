"""The pipeline's delivery stages: ``deploy`` starts a rollout of the version the run
registered, through the control plane's REST API (as ``shipyard deploy`` does), and
``verify`` sends the spec's smoke requests to that version, pinned to it, taking
the rollout back if an answer is wrong."""

from __future__ import annotations

import http.client
import json
import math
from typing import Any, cast
from urllib.parse import urlsplit

from shipyard.client.connection import connect
from shipyard.client.documents import DeploymentStatus, RolloutView
from shipyard.client.rest import RemoteError, ServerClient
from shipyard.errors import ShipyardError
from shipyard.pipeline.plan import StagePlan
from shipyard.pipeline.stages import StageContext, StageFailed, StageResult
from shipyard.scores import class_of
from shipyard.spec.monitor_config import attach_call

ROLLOUT_TIMEOUT = 3600.0


def _registered(ctx: StageContext) -> tuple[str, int]:
    bp = ctx.blueprint
    return bp.model, ctx.stores.metadata.resolve_alias(bp.model, bp.alias)


def _deployment(ctx: StageContext) -> str:
    assert ctx.blueprint.deployment is not None
    return ctx.blueprint.deployment


_REQUESTED = ("name", "strategy", "steps", "interval", "port", "replicas", "rollback_window")


def _body(spec: dict[str, Any], model: str, version: int, run_id: str) -> dict[str, Any]:
    """The deploy request from the spec's deploy section; settings the spec leaves out keep
    the deployment's own."""
    body = {
        "model": model,
        "version": version,
        **{key: spec[key] for key in _REQUESTED},
        "analysis": spec["analysis"],
        "reason": f"pipeline run {run_id}",
    }
    return {k: v for k, v in body.items() if v is not None}


def run_deploy_stage(stage: StagePlan, ctx: StageContext) -> StageResult:
    """Start the rollout; return once the new version is loaded (or, with ``wait``, done)."""
    spec = ctx.blueprint.deploy
    assert spec is not None
    model, version = _registered(ctx)
    name = _deployment(ctx)
    try:
        client = connect(ctx.stores.home)
        current = _status(client, name)
        under_way = None if current is None else current["rollout"]
        active = under_way is not None and under_way["active"]
        rollout: dict[str, Any]
        if under_way is not None and active and under_way["to_version"] == version:
            rollout = dict(under_way)  # a previous run started it: follow that one
            _watch(client, name, ctx)
        elif current is not None and current["stable"] == version and not active:
            _watch(client, name, ctx, holds=current["monitor_digest"])
            return StageResult({}, {}, note=f"{name} already serves v{version}", reused=True)
        else:
            body = {**_body(spec, model, version, ctx.run_id), "name": name}
            rollout = client.deploy(body, current is not None, lambda n: _watch(client, n, ctx))
    except RemoteError as err:
        raise StageFailed(stage.name, err.message, hint=err.hint) from None
    strategy = rollout["strategy"]
    ctx.on_line(f"[shipyard] rollout {rollout['id']} of {name}: {strategy} to v{version}")
    try:
        status = client.follow(
            name,
            rollout["id"],
            lambda _, r: ctx.on_line(f"[shipyard] {r['state']}, step {r['step']}/{r['steps']}"),
            until_loaded=not spec["wait"],
            timeout=ROLLOUT_TIMEOUT,
        )
    except ShipyardError as err:
        raise StageFailed(stage.name, err.message) from None
    r = status["rollout"]
    if r is None:
        raise StageFailed(stage.name, f"deployment {name} has no rollout any more")
    if r["state"] in ("failed", "aborted"):
        raise StageFailed(stage.name, f"rollout {r['state']}: {r['error']}")
    if r["state"] == "succeeded":
        return StageResult({}, {}, note=f"v{version} serves all traffic on {status['url']}")
    at = f"{strategy} of v{version} on {status['url']}: step {r['step']}/{r['steps']}"
    if r["state"] == "paused" and spec["wait"]:
        return StageResult({}, {}, note=f"{at}, paused", paused=_paused_because(name, r))
    follow = f"`shipyard status {name} --watch` follows it"
    return StageResult({}, {}, note=f"{at}; the rollout goes on ({follow})")


def _paused_because(name: str, rollout: RolloutView) -> str:
    """Why a rollout waits, and what a person can do about it."""
    step = f"rollout {rollout['id']} of {name} paused at step {rollout['step']}/{rollout['steps']}"
    analysis = rollout.get("analysis") or {}
    if analysis.get("verdict") == "inconclusive":
        why = f"its analysis was inconclusive ({analysis.get('note') or 'too little traffic'})"
    else:
        why = "the step waits for promote"
    return (
        f"{step}: {why}; `shipyard promote {name}` goes on, `shipyard abort {name}` takes it back"
    )


def _watch(client: ServerClient, name: str, ctx: StageContext, holds: str | None = None) -> None:
    """The project's `monitor:` rules watch the deployment from now on.

    ``holds`` is the digest of the monitor the deployment's status reported: when it is the
    one this project would attach, attaching again would change nothing, and is skipped.
    """
    bp = ctx.blueprint
    if bp.monitor is None or (holds is not None and holds == bp.monitor_digest):
        return
    client.call(*attach_call(name, bp.monitor, ctx.project.root))


def _status(client: ServerClient, name: str) -> DeploymentStatus | None:
    try:
        status = cast(DeploymentStatus, client.call("GET", f"deployments/{name}"))
    except RemoteError as err:
        if err.exit_code == 4:
            return None
        raise
    return status


def _rows(sample: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The rows to send and the predictions expected for them (one row: its prediction)."""
    value, expect = sample["input"], sample["expect"]
    if value and isinstance(value[0], list):
        return value, expect if isinstance(expect, list) else [expect]
    return [value], [expect]


def _close(got: Any, want: Any, tolerance: float) -> bool:
    if isinstance(want, int) and not isinstance(want, bool):
        scored = class_of(got, probability=True)  # a class expected of a network's scores
        if scored is not None:
            return scored == want
    if isinstance(want, list) and isinstance(got, list):
        pairs = zip(got, want, strict=False)
        return len(got) == len(want) and all(_close(g, w, tolerance) for g, w in pairs)
    if isinstance(want, int | float) and isinstance(got, int | float):
        return not isinstance(want, bool) and math.isclose(got, want, abs_tol=tolerance)
    return bool(got == want)


def _predict(url: str, model: str, version: int, rows: list[Any]) -> Any:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.request(
            "POST",
            f"/v1/models/{model}:predict",
            body=json.dumps({"instances": rows}),
            headers={"content-type": "application/json", "x-shipyard-version": str(version)},
        )
        response = connection.getresponse()
        data = json.loads(response.read() or b"{}")
    finally:
        connection.close()
    if response.status != 200:
        return {"error": data.get("error", f"HTTP {response.status}")}
    return data["predictions"]


def run_verify_stage(stage: StagePlan, ctx: StageContext) -> StageResult:
    """Smoke requests pinned to the new version; a wrong answer takes the rollout back."""
    spec = ctx.blueprint.verify
    assert spec is not None
    model, version = _registered(ctx)
    name = _deployment(ctx)
    client = connect(ctx.stores.home)
    status = client.call("GET", f"deployments/{name}")
    problems = []
    for i, sample in enumerate(spec["samples"], 1):
        rows, want = _rows(sample)
        got = _predict(status["url"], model, version, rows)
        if not _close(got, want, spec["tolerance"]):
            problems.append(f"sample {i}: expected {json.dumps(want)}, got {json.dumps(got)}")
    if problems:
        reason = f"verify failed for v{version}: {problems[0]}"
        r = status["rollout"] or {}
        if r.get("active") and r.get("to_version") == version:
            client.call("POST", f"deployments/{name}/abort", {"reason": reason})
            undone = "the rollout was aborted"
        elif status["stable"] == version and len(status.get("desired", {}).get("warm", {})) > 0:
            client.call("POST", f"deployments/{name}/rollback", {"reason": reason})
            undone = "the deployment was rolled back"
        else:
            undone = "nothing to take back"
        raise StageFailed(
            stage.name,
            f"{len(problems)} of {len(spec['samples'])} smoke request(s) failed; {undone}",
            hint="\n".join(problems),
        )
    return StageResult({}, {}, note=f"{len(spec['samples'])} smoke request(s) answered as expected")
