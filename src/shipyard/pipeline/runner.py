"""Running a project's pipeline: stages in order, cached when unchanged, recorded as a run.

Every stage's fingerprint is looked up in the stage cache first; a hit restores
its outputs from the artifact store instead of running it. A failure, Ctrl-C or
SIGTERM marks the current stage and the run (failed / interrupted) before the
error leaves, and never leaves a half-registered version: registration is the
last stage and is a single transaction.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Protocol

from shipyard.clock import utc_now
from shipyard.errors import InvalidInputError, NotFoundError, ShipyardError
from shipyard.git import git_state
from shipyard.lineage import current_actor, pinned_requirements, python_version
from shipyard.pipeline import BUNDLE_DIR, runs
from shipyard.pipeline.blueprint import Blueprint, blueprint
from shipyard.pipeline.fingerprint import dependency_digests, fingerprint
from shipyard.pipeline.outputs import restore_outputs
from shipyard.pipeline.plan import ACTS, StagePlan, select
from shipyard.pipeline.stages import (
    GateFailed,
    StageContext,
    StageFailed,
    StageResult,
    run_package_stage,
    run_register_stage,
    run_train_stage,
    run_user_stage,
    run_validate_stage,
)
from shipyard.project import Project
from shipyard.refs import ModelRef
from shipyard.registry import resolve
from shipyard.store import CacheEntry, Run, StageRun, Stores

_MAX_BACKOFF_S = 30.0


class Reporter(Protocol):
    """Where a run's progress goes (a live terminal view, JSON lines for CI, nothing)."""

    def run_started(self, run: Run) -> None:
        """The run was recorded and is about to start its first stage."""
        ...

    def stage_started(self, name: str) -> None:
        """A stage began (it may still turn out to be cached)."""
        ...

    def line(self, stage: str, text: str) -> None:
        """One line of a stage's output."""
        ...

    def stage_finished(self, stage: StageRun, note: str) -> None:
        """A stage ended in any state."""
        ...

    def run_finished(self, run: Run) -> None:
        """The run ended in any state."""
        ...


@dataclass(slots=True)
class RunOptions:
    """How ``shipyard run`` was asked to run."""

    to: str | None = None
    force: frozenset[str] = frozenset()
    params: dict[str, Any] = field(default_factory=dict)
    trigger: str = "cli"
    require_clean: bool = False
    resume: bool = False


ITSELF = "the candidate itself"  # a validate fingerprint's champion when it is the candidate


def new_run_id() -> str:
    """Sortable and readable: ``20261124-010203-a1b2``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def environment() -> dict[str, str]:
    """The Python environment as it enters fingerprints."""
    pins = hashlib.sha256(pinned_requirements().encode()).hexdigest()
    return {
        "python": python_version(),
        "requirements": f"sha256:{pins}",
        # which backend Keras trains on is a variable, not a package: it changes the result
        "keras_backend": os.environ.get("KERAS_BACKEND", ""),
    }


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A ``kill`` is handled like Ctrl-C: the run is marked interrupted on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done (they are delivered right after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)


class _Pipeline:
    """One run in progress."""

    def __init__(
        self, stores: Stores, project: Project, bp: Blueprint, reporter: Reporter, run: Run
    ) -> None:
        self.stores = stores
        self.project = project
        self.blueprint = bp
        self.reporter = reporter
        self.run = run
        self.run_dir = project.root / ".shipyard" / "runs" / run.id
        self.outputs: dict[str, dict[str, str]] = {}
        self.metrics: dict[str, dict[str, float]] = {}
        self.deps: dict[str, dict[str, str]] = {}
        self.current = StageRun("")  # the stage in progress, as last recorded
        self.paused: list[str] = []  # why each paused stage's rollout waits

    def _update(self, stage: StageRun, note: str | None = None) -> None:
        runs.update_stage(self.stores, self.run.id, stage)
        if note is not None:
            self.reporter.stage_finished(stage, note)

    def _champion(self) -> str | None:
        """The content of the version validation compares against: a new champion re-runs
        it. A champion that is the candidate itself (the version this very model became,
        then deployed) is ``ITSELF``: there is nothing new to judge it against."""
        bp = self.blueprint
        assert bp.champion is not None
        try:
            champion = resolve(self.stores, ModelRef(bp.model, alias=bp.champion))
        except NotFoundError:
            return None
        model = bp.model_path.rstrip("/")
        candidate = {
            digest
            for path, digest in self.outputs.get("train", {}).items()
            if path == model or path.startswith(f"{model}/")
        }
        if candidate and candidate == {a.digest for a in champion.artifacts}:
            return ITSELF
        return champion.content_digest

    def _log_digest(self, name: str) -> str | None:
        log = self.run_dir / f"{name}.log"
        return self.stores.artifacts.put_file(log).digest if log.is_file() else None

    def _execute(self, stage: StagePlan) -> tuple[StageResult, int]:
        ctx = StageContext(
            run_id=self.run.id,
            project=self.project,
            blueprint=self.blueprint,
            stores=self.stores,
            params=self.run.params,
            run_dir=self.run_dir,
            on_line=lambda text: self.reporter.line(stage.name, text),
            upstream_metrics=self.metrics,
            dep_digests=self.deps.get("train", {}),
            bundle_digest=self.outputs.get("package", {}).get(f"{BUNDLE_DIR}/manifest.json"),
        )
        for attempt in range(stage.retries + 1):
            try:
                if stage.kind == "train":
                    return run_train_stage(stage, ctx, stage.timeout), attempt + 1
                if stage.kind == "register":
                    return run_register_stage(stage, ctx), attempt + 1
                if stage.kind == "package":
                    return run_package_stage(stage, ctx, self.run.git_commit), attempt + 1
                if stage.kind == "validate":
                    return run_validate_stage(stage, ctx, stage.timeout), attempt + 1
                if stage.kind in ("deploy", "verify"):  # the HTTP client, when delivering
                    from shipyard.pipeline import delivery

                    deliver = (
                        delivery.run_deploy_stage
                        if stage.kind == "deploy"
                        else delivery.run_verify_stage
                    )
                    return deliver(stage, ctx), attempt + 1
                return run_user_stage(stage, ctx, stage.timeout), attempt + 1
            except StageFailed as err:
                if attempt == stage.retries or isinstance(err, GateFailed):
                    raise
                delay = min(2.0**attempt, _MAX_BACKOFF_S)
                self.reporter.line(stage.name, f"[shipyard] {err.message}; retry in {delay:g} s")
                time.sleep(delay)
        raise AssertionError("unreachable")

    def stage(self, stage: StagePlan, force: bool, env: dict[str, str]) -> None:
        deps = dependency_digests(self.project.root, stage)
        self.deps[stage.name] = deps
        params = self.run.params if stage.kind != "user" else {}
        champion = self._champion() if stage.kind == "validate" else None
        upstream = {name: self.outputs[name] for name in stage.inputs_from or stage.upstream}

        def stage_fingerprint(extra: dict[str, Any] | None) -> str:
            return fingerprint(
                stage, params=params, deps=deps, environment=env, upstream=upstream, extra=extra
            )

        fp = stage_fingerprint({"champion": champion} if stage.kind == "validate" else None)
        started = StageRun(stage.name, "running", fp, utc_now())
        self._update(started)
        self.current = started
        self.reporter.stage_started(stage.name)
        hit = None if force or stage.kind in ACTS else runs.cached(self.stores, fp)
        if hit is not None:
            restore_outputs(self.project.root, stage.outs, hit.outputs, self.stores.artifacts)
            self.run.params.update(hit.params)
            done = replace(
                started,
                status="cached",
                finished_at=utc_now(),
                outputs=hit.outputs,
                metrics=hit.metrics,
            )
            note = f"from run {hit.run_id}"
        else:
            result, attempts = self._execute(stage)
            if result.paused:
                self.paused.append(result.paused)
            done = replace(
                started,
                status="cached" if result.reused else "paused" if result.paused else "succeeded",
                finished_at=utc_now(),
                attempts=attempts,
                outputs=result.outputs,
                metrics=result.metrics,
                log_digest=self._log_digest(stage.name),
                error=result.paused,
            )
            note = result.note
            if stage.kind not in ACTS:
                keys = [fp]
                if stage.kind == "validate" and champion != ITSELF:
                    # once this candidate is the champion itself, its judgement stands
                    keys.append(stage_fingerprint({"champion": ITSELF}))
                for key in keys:
                    runs.remember(
                        self.stores,
                        CacheEntry(
                            key,
                            stage.name,
                            result.outputs,
                            result.metrics,
                            self.run.id,
                            result.params,
                        ),
                    )
        self.outputs[stage.name] = done.outputs
        self.metrics[stage.name] = done.metrics
        self._update(done, note)
        self.current = done


def _previous_failed(stores: Stores, project: Project) -> Run:
    for run in runs.list_runs(stores, project=str(project.root), limit=50):
        if run.status in ("failed", "interrupted"):
            return run
        if run.status in ("succeeded", "paused"):
            break
    raise InvalidInputError(
        "nothing to resume: the latest run of this project did not fail",
        hint="`shipyard runs list` shows the runs; `shipyard run` starts a new one",
    )


@contextmanager
def _project_lock(project: Project, reporter: Reporter) -> Iterator[None]:
    """One run at a time per work tree: stages write the same output files.

    A second run (a commit hook firing while you run by hand) waits its turn.
    """
    path = project.root / ".shipyard" / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            reporter.line("-", "[shipyard] another run of this project is in progress: waiting")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_pipeline(stores: Stores, project: Project, options: RunOptions, reporter: Reporter) -> Run:
    """Run the project's pipeline and return the finished run (or raise, with it recorded)."""
    with _project_lock(project, reporter):
        return _run_locked(stores, project, options, reporter)


def _run_locked(stores: Stores, project: Project, options: RunOptions, reporter: Reporter) -> Run:
    bp = blueprint(project)
    stages = select(bp.stages, options.to)
    unknown = options.force - {s.name for s in stages}
    if unknown:
        raise InvalidInputError(
            f"--force names stage(s) not in this run: {', '.join(sorted(unknown))}",
            hint=f"the stages are: {', '.join(s.name for s in stages)}",
        )
    git = git_state(project.root)
    if options.require_clean and git is not None and git.dirty:
        raise ShipyardError(
            f"the work tree at {project.root} has uncommitted changes; --require-clean refuses "
            "to run",
            hint="commit or stash the changes (a run records the commit it came from)",
        )
    params = dict(bp.params)
    trigger = options.trigger
    if options.resume:
        previous = _previous_failed(stores, project)
        params = dict(previous.params)
        trigger = f"resume of {previous.id}"
    params.update(options.params)
    run = Run(
        id=new_run_id(),
        project=str(project.root),
        model=bp.model,
        status="running",
        started_at=utc_now(),
        finished_at=None,
        actor=current_actor(),
        trigger=trigger,
        git_commit=git.commit if git else None,
        git_branch=git.branch if git else None,
        git_dirty=git.dirty if git else None,
        params=params,
        error=None,
        stages=tuple(StageRun(s.name) for s in stages),
    )
    run = runs.start_run(stores, run, run.actor)
    reporter.run_started(run)
    pipeline = _Pipeline(stores, project, bp, reporter, run)
    env = environment()
    with _sigterm_as_interrupt():
        try:
            for stage in stages:
                pipeline.current = StageRun(stage.name)
                # A version and its alias move land together and are recorded as done; a
                # Ctrl-C or kill arriving meanwhile is delivered right after.
                deferred = _signals_deferred() if stage.kind == "register" else nullcontext()
                with deferred:
                    pipeline.stage(stage, stage.name in options.force, env)
        except BaseException as err:
            _close_failed(pipeline, stages, err)
            raise
    paused = "; ".join(pipeline.paused) or None  # every stage ran, but a rollout waits
    final = runs.finish_run(stores, run.id, "paused" if paused else "succeeded", paused)
    reporter.run_finished(final)
    return final


def _close_failed(pipeline: _Pipeline, stages: list[StagePlan], err: BaseException) -> None:
    """Record how the run ended: the stage that stopped it, and the stages never reached."""
    interrupted = isinstance(err, KeyboardInterrupt)
    message = "interrupted" if interrupted else getattr(err, "message", None) or repr(err)
    stores, run_id = pipeline.stores, pipeline.run.id
    current = pipeline.current
    finished = current.status in ("succeeded", "cached", "paused")  # between two stages
    failed = (
        current
        if finished
        else replace(
            current,
            status="interrupted" if interrupted else "failed",
            finished_at=utc_now(),
            log_digest=pipeline._log_digest(current.name),
            outputs=getattr(err, "outputs", None) or current.outputs,
            error=message,
        )
    )
    if not finished:
        runs.update_stage(stores, run_id, failed)
    position = [s.name for s in stages].index(current.name)
    skipped = [StageRun(later.name, "skipped") for later in stages[position + 1 :]]
    for stage in skipped:
        runs.update_stage(stores, run_id, stage)
    final = runs.finish_run(stores, run_id, "interrupted" if interrupted else "failed", message)
    try:  # the run is recorded; the reporter (a closed pipe, say) may fail without undoing it
        if not finished:
            pipeline.reporter.stage_finished(failed, message)
        for stage in skipped:
            pipeline.reporter.stage_finished(stage, "")
        pipeline.reporter.run_finished(final)
    except Exception:
        pass
