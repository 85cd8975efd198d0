"""What each kind of stage does when it runs: user commands, training, registration."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard import tracking
from shipyard.errors import ShipyardError
from shipyard.expressions.quality_gates import Verdict, evaluate, parse_gate
from shipyard.jsonio import to_data
from shipyard.pipeline import BUNDLE_DIR, REFERENCE_SUMMARY, REPORT_DIR, TRAIN_HISTORY
from shipyard.pipeline.blueprint import Blueprint
from shipyard.pipeline.execute import run_command
from shipyard.pipeline.outputs import save_outputs
from shipyard.pipeline.plan import StagePlan
from shipyard.project import Project, read_metrics_file, register_options
from shipyard.registry import choose_flavor, register
from shipyard.registry.aliases import set_alias
from shipyard.store import Stores
from shipyard.tags import BUNDLE_TAG
from shipyard.validation.report import markdown


class StageFailed(ShipyardError):
    """A stage did not produce what it should; ``tail`` holds its last output lines."""

    def __init__(
        self,
        stage: str,
        message: str,
        tail: tuple[str, ...] = (),
        hint: str | None = None,
        outputs: dict[str, str] | None = None,
    ) -> None:
        if tail:
            hint = "last lines of its output:\n    " + "\n    ".join(tail)
        super().__init__(f"stage {stage!r} failed: {message}", hint=hint)
        self.stage = stage
        self.outputs = outputs or {}  # what it stored before failing (a gate report)


class GateFailed(StageFailed):
    """The candidate did not pass its quality gates (exit code 3, documented)."""

    exit_code = 3


@dataclass(slots=True)
class StageContext:
    """What a stage gets from the run around it."""

    run_id: str
    project: Project
    blueprint: Blueprint
    stores: Stores
    params: dict[str, Any]
    run_dir: Path
    on_line: Callable[[str], None]
    upstream_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    dep_digests: dict[str, str] = field(default_factory=dict)
    bundle_digest: str | None = None


@dataclass(frozen=True, slots=True)
class StageResult:
    """What a successful stage leaves behind."""

    outputs: dict[str, str]
    metrics: dict[str, float]
    note: str = ""
    reused: bool = False  # it found its result already made (the registry had the version)
    paused: str | None = None  # why it stopped short of done: its rollout waits for a person
    params: dict[str, Any] = field(default_factory=dict)  # params the stage logged itself


def _clear_outputs(root: Path, outs: tuple[str, ...]) -> None:
    """Remove declared outputs first: a command that writes nothing must not pass on old files."""
    for out in outs:
        path = root / out
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _run(
    stage: StagePlan,
    ctx: StageContext,
    command: str | list[str],
    env: dict[str, str],
    timeout: float | None,
) -> None:
    log = ctx.run_dir / f"{stage.name}.log"
    outcome = run_command(
        command, cwd=ctx.project.root, env=env, log=log, timeout=timeout, on_line=ctx.on_line
    )
    if outcome.returncode is None:
        raise StageFailed(stage.name, f"timed out after {timeout:g} s", outcome.tail)
    if outcome.returncode != 0:
        raise StageFailed(
            stage.name, f"its command exited with code {outcome.returncode}", outcome.tail
        )


def _base_env(ctx: StageContext) -> dict[str, str]:
    env = dict(os.environ)
    env["SHIPYARD_RUN_ID"] = ctx.run_id
    env["PYTHONUNBUFFERED"] = "1"  # so output streams line by line
    # `python` in a stage command is the interpreter running Shipyard: the environment
    # that the fingerprints record is the one the stage really runs in.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_user_stage(stage: StagePlan, ctx: StageContext, timeout: float | None) -> StageResult:
    """Run the command; every declared output must exist afterwards."""
    root = ctx.project.root
    _clear_outputs(root, stage.outs)
    _run(stage, ctx, stage.command or "", _base_env(ctx), timeout)
    missing = [out for out in stage.outs if not (root / out).exists()]
    if missing:
        raise StageFailed(
            stage.name, f"it did not write its declared output(s): {', '.join(missing)}"
        )
    return StageResult(save_outputs(root, stage.outs, ctx.stores.artifacts), {})


def _tracked(run_dir: Path, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    path = run_dir / name
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                merged.update(json.loads(line))
    return merged


def run_train_stage(stage: StagePlan, ctx: StageContext, timeout: float | None) -> StageResult:
    """Run the training command or function with the run's params; collect model and metrics."""
    root = ctx.project.root
    train = ctx.project.spec.train
    assert train is not None
    tracking_dir = ctx.run_dir / "train"
    shutil.rmtree(tracking_dir, ignore_errors=True)
    tracking_dir.mkdir(parents=True)
    _clear_outputs(root, stage.outs)
    env = _base_env(ctx)
    env["SHIPYARD_PARAMS"] = json.dumps(ctx.params)
    env[tracking.RUN_DIR_ENV] = str(tracking_dir)
    env[tracking.MODEL_PATH_ENV] = str(ctx.project.model_path)
    command: str | list[str]
    if stage.function is not None:
        module, function = stage.function.split(":")
        code = (
            f"import importlib, sys; sys.path.insert(0, '.'); "
            f"importlib.import_module({module!r}).{function}()"
        )
        command = [sys.executable, "-c", code]
    else:
        command = stage.command or ""
    _run(stage, ctx, command, env, timeout)
    if not ctx.project.model_path.exists():
        raise StageFailed(
            stage.name,
            f"training finished but wrote no model at {ctx.project.spec.model.path}",
        )
    metrics: dict[str, float] = {}
    metrics_file = root / train.metrics
    if metrics_file.is_file():
        try:
            metrics.update(read_metrics_file(metrics_file))
        except ShipyardError as err:  # the training script's mistake, not the spec's
            raise StageFailed(stage.name, err.message) from None
    metrics.update({k: float(v) for k, v in _tracked(tracking_dir, tracking.METRICS_FILE).items()})
    logged = _tracked(tracking_dir, tracking.PARAMS_FILE)
    ctx.params.update(logged)
    history = tracking_dir / tracking.HISTORY_FILE
    if history.is_file():
        (root / TRAIN_HISTORY).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(history, root / TRAIN_HISTORY)
    outputs = save_outputs(root, stage.outs, ctx.stores.artifacts)
    shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
    return StageResult(outputs, metrics, note=shown, params=logged)


def _gate_table(verdicts: list[Verdict]) -> str:
    rows = [("gate", "required", "got", "")] + [
        (
            v.gate,
            v.required,
            "-" if v.got is None else f"{v.got:.4g}",
            "pass" if v.passed else f"FAIL{' (' + v.note + ')' if v.note else ''}",
        )
        for v in verdicts
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        "    "
        + "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True))
        + "  "
        + r[3]
        for r in rows
    )


def run_validate_stage(stage: StagePlan, ctx: StageContext, timeout: float | None) -> StageResult:
    """Cross-validate, score candidate and champion on one holdout, then judge the gates."""
    root = ctx.project.root
    spec = ctx.project.spec.validate_stage
    assert spec is not None
    name, source, options = register_options(ctx.project)
    flavor, entrypoint = choose_flavor(source, options)
    files = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
    _clear_outputs(root, stage.outs)
    report_dir = root / REPORT_DIR
    report_dir.mkdir(parents=True, exist_ok=True)
    result_path = report_dir / "validate.json"
    config = {
        "project": str(root),
        "data": spec.data,
        "fit": spec.fit,
        "folds": spec.folds,
        "holdout": spec.holdout,
        "seed": spec.seed,
        "metrics": spec.metrics,
        "processes": spec.processes or os.cpu_count() or 1,
        "params": ctx.params,
        "trust": list(ctx.project.spec.model.trust),
        "home": str(ctx.stores.home),
        "champion": f"{name}@{spec.champion}",
        "output": str(result_path),
        "reference": str(root / REFERENCE_SUMMARY) if ctx.blueprint.keeps_reference else None,
        "candidate": {
            "flavor": flavor,
            "entrypoint": entrypoint,
            "root": str(source.parent if source.is_file() else source),
            "source": str(source),
            "size_bytes": sum(f.stat().st_size for f in files),
        },
    }
    config_path = ctx.run_dir / "validate-config.json"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "shipyard.validation.worker", str(config_path)]
    _run(stage, ctx, command, _base_env(ctx), timeout)
    result = json.loads(result_path.read_text())
    cv = (result.get("cv") or {}).get("metrics", {})
    candidate = {**result["candidate"], **{f"cv.{k}": s["mean"] for k, s in cv.items()}}
    champion = (result.get("champion") or {}).get("metrics")
    verdicts = [evaluate(parse_gate(text), candidate, champion) for text in spec.gates]
    result["gates"] = [to_data(v) for v in verdicts]
    result_path.write_text(json.dumps(result, indent=2))
    (report_dir / "validate.md").write_text(markdown(result, verdicts, ctx.run_id))
    outputs = save_outputs(root, stage.outs, ctx.stores.artifacts)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        raise GateFailed(
            stage.name,
            f"{len(failed)} of {len(verdicts)} quality gate(s) failed; nothing was registered "
            f"(report: {REPORT_DIR}/validate.md)",
            hint="gates:\n" + _gate_table(verdicts),
            outputs=outputs,
        )
    metrics = {f"validate.{k}": v for k, v in result["candidate"].items()}
    for key, stats in cv.items():
        metrics[f"cv.{key}"] = stats["mean"]
        metrics[f"cv.{key}.std"] = stats["std"]
    note = ", ".join(f"{v.metric} {v.got:.4g}" for v in verdicts if v.got is not None)
    return StageResult(outputs, metrics, note=f"gates passed: {note}" if verdicts else "validated")


def _reference(ctx: StageContext) -> dict[str, Any] | None:
    """The validate stage's summary of its inputs, when the spec keeps one."""
    path = ctx.project.root / REFERENCE_SUMMARY
    if not ctx.blueprint.keeps_reference or not path.is_file():
        return None
    return dict(json.loads(path.read_text()))


def run_package_stage(stage: StagePlan, ctx: StageContext, commit: str | None) -> StageResult:
    """Build the deployable bundle: manifest, model files, code, pinned requirements, Dockerfile."""
    from shipyard.pipeline.packaging import build_bundle

    root = ctx.project.root
    manifest = build_bundle(ctx.project, root / BUNDLE_DIR, commit=commit, home=ctx.stores.home)
    outputs = save_outputs(root, stage.outs, ctx.stores.artifacts)
    digest = outputs[f"{BUNDLE_DIR}/manifest.json"]
    return StageResult(outputs, {}, note=f"bundle {digest[7:19]}: {len(manifest['files'])} files")


def run_register_stage(stage: StagePlan, ctx: StageContext) -> StageResult:
    """Register the trained model with the run's lineage and move the spec's alias to it."""
    name, source, options = ctx.blueprint.register_options(ctx.project.root)
    metrics = {**ctx.upstream_metrics.get("train", {}), **ctx.upstream_metrics.get("validate", {})}
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise StageFailed(
            stage.name, f"metric(s) {', '.join(bad)} are not finite numbers; nothing was registered"
        )
    options.params = dict(ctx.params)
    options.metrics = dict(metrics)
    options.tags = {**options.tags, "shipyard.run": ctx.run_id}
    if ctx.bundle_digest:
        options.tags[BUNDLE_TAG] = ctx.bundle_digest
    options.data_digests = dict(ctx.dep_digests)
    options.reference = _reference(ctx)
    alias = ctx.blueprint.alias
    result = register(ctx.stores, source, name, options)
    version = result.version.version
    set_alias(ctx.stores, name, alias, version, reason=f"pipeline run {ctx.run_id}")
    verb = "registered" if result.created else "already registered:"
    return StageResult(
        {}, {}, note=f"{verb} {name} v{version} ({alias})", reused=not result.created
    )
