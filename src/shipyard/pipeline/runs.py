"""The runs service: recording runs, their stages and the stage cache.

The pipeline runner records through these functions where the code runs (a
laptop, a CI agent); a team server's handlers call the same ones for a runner
that talks to it, so a run looks the same wherever it was recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shipyard import jsonio
from shipyard.errors import InvalidInputError
from shipyard.pipeline import REPORT_DIR, TRAIN_HISTORY, VALIDATE_REPORT
from shipyard.store import CacheEntry, Run, StageRun, Stores
from shipyard.store.runs import RUN_STATUSES, STAGE_STATUSES

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FINAL = tuple(s for s in RUN_STATUSES if s != "running")


def check_run_id(run_id: str) -> str:
    """A run id as Shipyard makes them (``20261124-010203-a1b2``) or a prefix of one."""
    if not _RUN_ID.match(run_id):
        raise InvalidInputError(
            f"invalid run id {run_id!r}", hint="`shipyard runs list` shows the runs' ids"
        )
    return run_id


def _check_stage(stage: StageRun) -> StageRun:
    if stage.status not in STAGE_STATUSES:
        raise InvalidInputError(
            f"stage {stage.name!r}: unknown status {stage.status!r}",
            hint=f"one of {', '.join(STAGE_STATUSES)}",
        )
    return stage


def start_run(stores: Stores, run: Run, actor: str) -> Run:
    """Record a new run and its pending stages, acted by ``actor``."""
    check_run_id(run.id)
    if run.status != "running":
        raise InvalidInputError(f"a new run is 'running', not {run.status!r}")
    for stage in run.stages:
        _check_stage(stage)
    recorded = replace(run, actor=actor)
    stores.runs.create_run(recorded)
    return recorded


def update_stage(stores: Stores, run_id: str, stage: StageRun) -> None:
    """Replace one stage's row of a run."""
    stores.runs.update_stage(check_run_id(run_id), _check_stage(stage))


def finish_run(stores: Stores, run_id: str, status: str, error: str | None) -> Run:
    """Close a run as succeeded, paused (its rollout waits), failed or interrupted."""
    if status not in _FINAL:
        raise InvalidInputError(
            f"a run finishes as {', '.join(_FINAL)}, not {status!r}",
        )
    return stores.runs.finish_run(check_run_id(run_id), status, error)


def get_run(stores: Stores, run_id: str) -> Run:
    """A run by id or unique id prefix."""
    return stores.runs.get_run(check_run_id(run_id))


PLOTS = ("confusion.png", "comparison.png")  # what validation draws, in REPORT_DIR


@dataclass(frozen=True, slots=True)
class RunReport:
    """A run with what its stages left: their logs, the validation report (gates,
    cross-validation), the training history per step, and the plots' blob digests."""

    run: Run
    logs: dict[str, str]  # stage: its log's text
    validation: dict[str, Any]
    history: list[dict[str, Any]]
    plots: dict[str, str]  # file name: blob digest


def run_report(stores: Stores, run_id: str) -> RunReport:
    """``get_run`` and the files that explain it (``shipyard runs show``, the UI)."""
    run = get_run(stores, run_id)
    outputs = _outputs(run)

    def read(path: str) -> bytes:
        return stores.artifacts.read_bytes(outputs[path]) if path in outputs else b""

    logs = {
        s.name: stores.artifacts.read_bytes(s.log_digest).decode(errors="replace")
        for s in run.stages
        if s.log_digest
    }
    report = read(VALIDATE_REPORT)
    return RunReport(
        run,
        logs,
        jsonio.loads(report) if report else {},
        [jsonio.loads(line) for line in read(TRAIN_HISTORY).splitlines() if line.strip()],
        plots(run),
    )


def plots(run: Run) -> dict[str, str]:
    """The validation plots a run's stages left, by file name: their blob digests."""
    outputs = _outputs(run)
    found = {name: outputs.get(f"{REPORT_DIR}/{name}") for name in PLOTS}
    return {name: digest for name, digest in found.items() if digest}


def _outputs(run: Run) -> dict[str, str]:
    """Every file the run's stages left, by path: its blob digest (the first stage's)."""
    found: dict[str, str] = {}
    for stage in run.stages:
        for path, digest in stage.outputs.items():
            found.setdefault(path, digest)
    return found


def seconds(start: str | None, end: str | None) -> float | None:
    """Seconds between two ISO times (None unless both are known)."""
    if not start or not end:
        return None
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def list_runs(stores: Stores, *, project: str | None = None, limit: int = 20) -> list[Run]:
    """The newest runs first, of one project or all."""
    if not 1 <= limit <= 10_000:
        raise InvalidInputError("limit: 1 to 10000")
    return stores.runs.list_runs(project=project, limit=limit)


def cached(stores: Stores, fingerprint: str) -> CacheEntry | None:
    """What a stage with this fingerprint produced before, if anything."""
    return stores.runs.cache_get(fingerprint)


def remember(stores: Stores, entry: CacheEntry) -> None:
    """Keep what a stage produced (the first entry for a fingerprint wins)."""
    missing = [d for d in dict.fromkeys(entry.outputs.values()) if not stores.artifacts.exists(d)]
    if missing:
        raise InvalidInputError(
            f"stage {entry.stage!r}: {len(missing)} output blob(s) are not stored "
            f"(first: {missing[0]})",
            hint="upload the stage's outputs before caching them",
        )
    stores.runs.cache_put(entry)
