"""The runs' pages: the newest runs, and one run's stages as a timeline (durations, cache
hits), its gate verdicts, cross-validation and training history, the validation plots, and
the failed stage's log — all from ``pipeline.runs.run_report``, as ``shipyard runs show``."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipyard.controlplane.context import ServerContext
from shipyard.errors import NotFoundError
from shipyard.pipeline import runs
from shipyard.ui.web import HEADERS, Guard, Viewer, html

LIST_SIZE = 50
LOG_TAIL = 40  # lines of a failed stage's log shown open; the rest behind "whole log"


def run_routes(ctx: ServerContext, signed_in: Guard) -> list[BaseRoute]:
    """The runs' pages and their plots, behind ``signed_in``."""

    async def list_page(request: Request, viewer: Viewer) -> Response:
        found = await asyncio.to_thread(runs.list_runs, ctx.stores, limit=LIST_SIZE)
        rows = [(run, runs.seconds(run.started_at, run.finished_at)) for run in found]
        return html("runs.html", viewer=viewer, runs=rows)

    async def run_page(request: Request, viewer: Viewer) -> Response:
        report = await asyncio.to_thread(runs.run_report, ctx.stores, request.path_params["id"])
        return html("run.html", viewer=viewer, r=report, run=report.run,
                    stages=_timeline(report), log_tail=LOG_TAIL)  # fmt: skip

    async def plot(request: Request, viewer: Viewer) -> Response:
        name = request.path_params["name"]
        run = await asyncio.to_thread(runs.get_run, ctx.stores, request.path_params["id"])
        digest = runs.plots(run).get(name)  # the run alone: no log or report is read for it
        if digest is None:
            raise NotFoundError(f"run {run.id} has no plot {name!r}")
        data = await asyncio.to_thread(ctx.stores.artifacts.read_bytes, digest)
        headers = {**HEADERS, "cache-control": "private, max-age=86400, immutable"}
        return Response(data, media_type="image/png", headers=headers)

    return [
        Route("/runs", signed_in(list_page)),
        Route("/runs/{id}", signed_in(run_page)),
        Route("/runs/{id}/plots/{name}", signed_in(plot)),
    ]


def _timeline(report: runs.RunReport) -> list[dict[str, Any]]:
    """Each stage with its time and its bar: where it started and how long it took, as
    shares of the whole run (a cached stage has no bar, only its mark)."""
    run = report.run
    total = runs.seconds(run.started_at, run.finished_at) or 0.0
    shown = []
    for stage in run.stages:
        took = runs.seconds(stage.started_at, stage.finished_at)
        offset = runs.seconds(run.started_at, stage.started_at)
        share = (took or 0.0) / total * 100 if total else 0.0
        start = (offset or 0.0) / total * 100 if total else 0.0
        shown.append({"stage": stage, "took": took, "left": round(min(start, 100.0), 1),
                      "width": round(max(min(share, 100.0 - start), 0.5), 1)})  # fmt: skip
    return shown
