"""Pipeline benchmark: a no-op re-run, the engine's cost per stage, and parallel k-fold CV.

Goals (Pipeline issue): a no-op re-run of the digits pipeline (everything cached)
in ≤ 1 s wall; engine overhead per stage (a stage whose command is `true`)
≤ 50 ms; 5-fold CV with 2 processes against sequential: the speed-up. Every
figure is a whole `shipyard` process as a user runs it, printed, not asserted.

    make bench     # or: .venv/bin/python benchmarks/bench_pipeline.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPYARD = str(Path(sys.executable).parent / "shipyard")


def git_project(path: Path) -> Path:
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "b@example.com"],
        ["config", "user.name", "Bench"],
        ["add", "."],
        ["commit", "-qm", "bench"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True)
    return path


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def noop_rerun(tmp: Path) -> list[float]:
    project = tmp / "digits"
    shutil.copytree(
        ROOT / "examples" / "digits",
        project,
        ignore=shutil.ignore_patterns(".shipyard", "model.skops", "metrics.json"),
    )
    # measured as before the deploy stage existed: bench_deploy.py times delivery
    spec = (project / "shipyard.yaml").read_text()
    (project / "shipyard.yaml").write_text(spec[: spec.index("\n# After registering")] + "\n")
    (project / ".gitignore").write_text("model.skops\nmetrics.json\n.shipyard/\n")
    git_project(project)
    env = {**os.environ, "SHIPYARD_HOME": str(tmp / "home-digits")}
    timed([SHIPYARD, "run"], project, env)  # the real run, not measured
    return [timed([SHIPYARD, "run"], project, env) for _ in range(5)]


def chain(tmp: Path, stages: int) -> Path:
    project = tmp / f"chain-{stages}"
    project.mkdir()
    lines = ["model:\n  name: chain\nstages:\n"]
    for i in range(stages):
        after = f"    after: [s{i - 1}]\n" if i else ""
        lines.append(f'  s{i}:\n    run: "true"\n{after}')
    (project / "shipyard.yaml").write_text("".join(lines))
    return git_project(project)


def per_stage_overhead(tmp: Path, rounds: int = 3) -> tuple[float, float, float]:
    """Median whole-run times for 1 and 21 `true` stages (fresh registry each round)."""
    short, long_ = chain(tmp, 1), chain(tmp, 21)
    ones, many = [], []
    for r in range(rounds):
        ones.append(
            timed([SHIPYARD, "run"], short, {**os.environ, "SHIPYARD_HOME": str(tmp / f"h1-{r}")})
        )
        many.append(
            timed([SHIPYARD, "run"], long_, {**os.environ, "SHIPYARD_HOME": str(tmp / f"h21-{r}")})
        )
    true_cost = statistics.median(
        timed(["sh", "-c", "true"], tmp, dict(os.environ)) for _ in range(20)
    )
    return statistics.median(ones), statistics.median(many), true_cost


def cv_speedup(tmp: Path, rounds: int = 3) -> dict[str, list[float]]:
    """The validation worker's 5-fold CV on digits: sequential (default BLAS threads, then one
    thread) and 2 processes (one BLAS thread each), alternating."""
    project = ROOT / "examples" / "digits"
    subprocess.run([sys.executable, "train.py"], cwd=project, check=True, capture_output=True)
    seconds: dict[str, list[float]] = {"seq": [], "seq1": [], "par": []}
    for r in range(rounds):
        for label, processes, threads in (("seq", 1, None), ("seq1", 1, 1), ("par", 2, None)):
            out = tmp / f"cv-{label}-{r}" / "validate.json"
            out.parent.mkdir()
            config = {
                "project": str(project),
                "data": "model:load_data",
                "fit": "model:build_model",
                "folds": 5,
                "holdout": 0.25,
                "seed": 0,
                "metrics": ["accuracy"],
                "processes": processes,
                "blas_threads": threads,
                "params": {"C": 0.1, "max_iter": 1000},
                "trust": [],
                "home": str(tmp / "no-home"),
                "champion": None,
                "output": str(out),
                "candidate": {
                    "flavor": "sklearn",
                    "entrypoint": "model.skops",
                    "root": str(project),
                    "size_bytes": 1,
                },
            }
            path = out.parent / "config.json"
            path.write_text(json.dumps(config))
            subprocess.run(
                [sys.executable, "-m", "shipyard.validation.worker", str(path)],
                cwd=project,
                check=True,
                capture_output=True,
            )
            seconds[label].append(json.loads(out.read_text())["cv"]["seconds"])
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-pipeline-") as name:
        tmp = Path(name)
        noop = noop_rerun(tmp)
        one, many, true_cost = per_stage_overhead(tmp)
        cv = cv_speedup(tmp)
    per_stage = (many - one) / 20
    print("Shipyard pipeline")
    print(
        f"  no-op re-run of the digits pipeline (all cached), whole `shipyard run`: median "
        f"{statistics.median(noop):.3f} s, max {max(noop):.3f} s  (goal ≤ 1 s)"
    )
    print(
        f"  engine overhead per stage: {per_stage * 1000:.1f} ms  (goal ≤ 50 ms; whole run "
        f"with 1 stage {one:.3f} s, with 21 stages {many:.3f} s; `sh -c true` alone "
        f"{true_cost * 1000:.1f} ms)"
    )
    seq, seq1, par = (statistics.median(cv[k]) for k in ("seq", "seq1", "par"))
    print(
        f"  5-fold CV on digits: sequential {seq:.3f} s (default BLAS threads), "
        f"{seq1:.3f} s (one BLAS thread); 2 processes {par:.3f} s: speed-up {seq / par:.1f}x "
        f"over the default, {seq1 / par:.2f}x over one thread (2 cores)"
    )


if __name__ == "__main__":
    main()
