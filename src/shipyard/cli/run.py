"""``shipyard run`` and ``shipyard runs``: the pipeline from the command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from shipyard.cli.common import (
    JSON_OPTION,
    console,
    format_metrics,
    new_table,
    parse_pairs,
    parse_value,
    print_json,
    short,
    stores,
    when,
)
from shipyard.errors import RolloutPaused
from shipyard.pipeline.runs import run_report
from shipyard.pipeline.runs import seconds as elapsed
from shipyard.store import Run, StageRun
from shipyard.units import format_duration

runs_app = typer.Typer(
    help="Pipeline runs: stages, timings, cache hits, logs.", no_args_is_help=True
)

_STYLE = {
    "succeeded": "green",
    "cached": "cyan",
    "paused": "yellow",
    "failed": "red",
    "interrupted": "red",
    "running": "yellow",
    "pending": "dim",
    "skipped": "dim",
}


def _elapsed(stage: StageRun) -> str:
    seconds = elapsed(stage.started_at, stage.finished_at)
    return "-" if seconds is None else format_duration(seconds)


class LiveReporter:
    """A live table of stages with elapsed times; stage output scrolls above it."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, float | None, str]] = {}
        self.started: dict[str, float] = {}
        self.live = Live(
            console=console, refresh_per_second=4, transient=False, get_renderable=self._render
        )

    def _render(self) -> Table:
        table = Table(box=None, show_header=False, pad_edge=False)
        now = time.monotonic()
        for name, (status, seconds, note) in self.rows.items():
            if status == "running":
                seconds = now - self.started[name]
            shown = "" if seconds is None else format_duration(seconds)
            style = _STYLE.get(status, "")
            table.add_row(f"  {name}", f"[{style}]{status}[/]", shown, note)
        return table

    def run_started(self, run: Run) -> None:
        console.print(
            f"run [bold]{run.id}[/] of {run.model}"
            + (f" at {run.git_commit[:8]}{'*' if run.git_dirty else ''}" if run.git_commit else "")
        )
        self.rows = {s.name: ("pending", None, "") for s in run.stages}
        self.live.start()

    def stage_started(self, name: str) -> None:
        self.started[name] = time.monotonic()
        self.rows[name] = ("running", None, "")

    def line(self, stage: str, text: str) -> None:
        self.live.console.print(Text.assemble((f"{stage} │ ", "dim"), text), soft_wrap=True)

    def stage_finished(self, stage: StageRun, note: str) -> None:
        began = self.started.get(stage.name)
        seconds = None if began is None else time.monotonic() - began
        self.rows[stage.name] = (stage.status, seconds, note)

    def run_finished(self, run: Run) -> None:
        self.live.stop()
        if not console.is_terminal:  # the final table is printed without its last newline
            console.print()
        total = elapsed(run.started_at, run.finished_at) or 0.0
        style = _STYLE.get(run.status, "")
        console.print(f"run {run.id} [{style}]{run.status}[/] in {format_duration(total)}")


class JsonReporter:
    """One JSON object per line on stdout, for CI logs and scripts."""

    def _emit(self, event: str, **data: object) -> None:
        print_json({"event": event, **data})
        sys.stdout.flush()

    def run_started(self, run: Run) -> None:
        self._emit("run.started", run=run)

    def stage_started(self, name: str) -> None:
        self._emit("stage.started", stage=name)

    def line(self, stage: str, text: str) -> None:
        self._emit("stage.output", stage=stage, line=text)

    def stage_finished(self, stage: StageRun, note: str) -> None:
        self._emit("stage.finished", stage=stage, note=note)

    def run_finished(self, run: Run) -> None:
        self._emit("run.finished", run=run)


def run_cmd(
    to: str | None = typer.Option(None, "--to", help="Stop after this stage (runs what it needs)."),
    force: list[str] | None = typer.Option(
        None, "--force", help="Re-run this stage even if cached; repeat."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the last failed or interrupted run."
    ),
    param: list[str] | None = typer.Option(
        None, "--param", "-p", help="Override a param: NAME=VALUE; repeat."
    ),
    require_clean: bool = typer.Option(False, help="Refuse to run with uncommitted changes."),
    trigger: str = typer.Option("cli", hidden=True, help="What started the run (hooks, CI)."),
    as_json: bool = typer.Option(False, "--json", help="Emit JSON lines instead of a live view."),
) -> None:
    """Run the project's pipeline: every stage in order, skipping those that are unchanged."""
    from shipyard.pipeline.runner import RunOptions, run_pipeline  # model-free but not tiny
    from shipyard.project import load_project

    project = load_project(Path.cwd(), read=False)  # the run's blueprint reads it if need be
    options = RunOptions(
        to=to,
        force=frozenset(force or []),
        resume=resume,
        require_clean=require_clean,
        trigger=trigger,
        params={k: parse_value(v) for k, v in parse_pairs(param, "--param").items()},
    )
    reporter = JsonReporter() if as_json else LiveReporter()
    with stores() as opened:
        try:
            run = run_pipeline(opened, project, options, reporter)
        finally:
            if isinstance(reporter, LiveReporter) and reporter.live.is_started:
                reporter.live.stop()
    if not as_json:
        notes = (
            [row[2] for row in reporter.rows.values() if row[2]]
            if isinstance(reporter, LiveReporter)
            else []
        )
        if run.stages and run.stages[-1].name == "register" and notes:
            console.print(f"[bold]{notes[-1]}[/]")
    if run.status == "paused":  # recorded and reported; a waiting rollout is not a success
        raise RolloutPaused(
            run.error or "a rollout waits",
            hint="`shipyard status` shows where it stands; the run is recorded as paused",
        )


@runs_app.command("list")
def list_runs(
    limit: int = typer.Option(20, min=1, max=10_000, help="How many of the newest runs."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The newest runs, all projects."""
    with stores() as opened:
        found = opened.runs.list_runs(limit=limit)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no runs yet: `shipyard run` in a project starts one")
        return
    table = new_table("run", "started", "model", "status", "took", "trigger", "git", "stages")
    for run in found:
        took = elapsed(run.started_at, run.finished_at)
        stages = " ".join(f"[{_STYLE.get(s.status, '')}]{s.name}[/]" for s in run.stages)
        git = "-" if not run.git_commit else run.git_commit[:8] + ("*" if run.git_dirty else "")
        table.add_row(
            run.id,
            when(run.started_at),
            run.model,
            f"[{_STYLE.get(run.status, '')}]{run.status}[/]",
            "-" if took is None else format_duration(took),
            run.trigger,
            git,
            stages,
        )
    console.print(table)


@runs_app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="Run id, or a unique prefix of it."),
    logs: bool = typer.Option(False, "--logs", help="Print every stage's full log."),
    as_json: bool = JSON_OPTION,
) -> None:
    """One run: stages with status, duration, cache hits, metrics, errors and logs."""
    with stores() as opened:
        report = run_report(opened, run_id)
    run, texts, history = report.run, report.logs, report.history
    gates = report.validation.get("gates", [])
    folds = ((report.validation.get("cv") or {}).get("metrics")) or {}
    if as_json:
        print_json(run)
        return
    took = elapsed(run.started_at, run.finished_at)
    console.print(
        f"[bold]run {run.id}[/] of {run.model}: [{_STYLE.get(run.status, '')}]"
        f"{run.status}[/]" + ("" if took is None else f" in {format_duration(took)}")
    )
    console.print(
        f"  started {when(run.started_at)} by {run.actor} ({run.trigger}); project {run.project}"
    )
    if run.git_commit:
        console.print(
            f"  git {run.git_commit} ({run.git_branch or 'detached'}"
            f"{', dirty' if run.git_dirty else ''})"
        )
    console.print(f"  params {', '.join(f'{k}={v}' for k, v in run.params.items()) or '-'}")
    table = new_table("stage", "status", "took", "attempts", "fingerprint", "metrics / error")
    for s in run.stages:
        detail = s.error or format_metrics(s.metrics)
        table.add_row(
            s.name,
            f"[{_STYLE.get(s.status, '')}]{s.status}[/]",
            _elapsed(s),
            str(s.attempts),
            short(s.fingerprint),
            detail,
        )
    console.print(table)
    if history:
        names = list(dict.fromkeys(k for row in history for k in row if k != "step"))
        epochs = new_table("step", *names, title="training, step by step")
        for row in history:
            epochs.add_row(str(row["step"]), *(f"{row[n]:.4g}" if n in row else "-" for n in names))
        console.print(epochs)
    if folds:
        count = max(len(stats["folds"]) for stats in folds.values())
        scores = new_table("metric", *(f"fold {i + 1}" for i in range(count)), "mean ± std",
                           title="cross-validation")  # fmt: skip
        for name, stats in folds.items():
            scores.add_row(
                name,
                *(f"{v:.4f}" for v in stats["folds"]),
                f"{stats['mean']:.4f} ± {stats['std']:.4f}",
            )
        console.print(scores)
    if gates:
        verdicts = new_table("gate", "required", "got", "verdict")
        for g in gates:
            got = "-" if g["got"] is None else f"{g['got']:.4g}"
            verdict = "[green]pass[/]" if g["passed"] else "[red]FAIL[/]"
            verdicts.add_row(
                g["gate"], g["required"], got, verdict + (f" {g['note']}" if g["note"] else "")
            )
        console.print(verdicts)
    for s in run.stages:
        text = texts.get(s.name)
        if text and (logs or s.status == "failed"):
            lines = text.splitlines()
            shown = lines if logs else lines[-20:]
            console.print(f"[bold]{s.name} log[/]" + ("" if logs else " (last 20 lines)"))
            for line in shown:
                console.print(f"  {line}", markup=False, highlight=False)
