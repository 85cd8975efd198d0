"""The everyday loop: how long the commands a user types all day take, beside DVC.

Every figure is a whole process as a user starts it (``subprocess``, the venv's
``shipyard`` script), with bytecode already cached, printed in one table, never
asserted:

- ``shipyard --version``, ``shipyard --help`` and ``shipyard models list`` (a
  registry holding the digits model): median and best of 20;
- a no-op ``shipyard run`` of the digits example *with* its deploy, verify and
  monitor stages, on a control plane of its own: the first run after the run that
  registered and deployed (one per round, 3 rounds: each round trains anew), then
  the steady state (5 per round);
- DVC's no-op ``dvc repro`` on a pipeline of the same shape (train → validate →
  package, the same scripts' work on the digits data), DVC in its own venv
  (``benchmarks/.venvs/dvc``, never a project dependency): median of 15.

    make bench-loop
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
DVC = ROOT / "benchmarks" / ".venvs" / "dvc" / "bin" / "dvc"
RESULTS = ROOT / "benchmarks" / "results" / "loop.json"
ROUNDS = 3
GOALS = {"--version": 0.15, "noop_after_deploy": 0.4, "noop_steady": 0.4}

# The DVC pipeline: the digits example's train, a 5-fold validation and a package step.
DVC_STAGES = {
    "validate.py": """\
import json, skops.io
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.linear_model import LogisticRegression
x, y = load_digits(return_X_y=True)
scores = cross_val_score(LogisticRegression(C=0.1, max_iter=1000), x, y, cv=5)
json.dump({"cv_accuracy": scores.mean()}, open("validate.json", "w"))
""",
    "package.py": """\
import pathlib, shutil
out = pathlib.Path("bundle")
out.mkdir(exist_ok=True)
for name in ("model.skops", "model.py", "validate.json"):
    shutil.copy(name, out / name)
""",
    "dvc.yaml": """\
stages:
  train:
    cmd: python train.py
    deps: [train.py, model.py]
    outs: [model.skops]
    metrics: [{metrics.json: {cache: false}}]
  validate:
    cmd: python validate.py
    deps: [validate.py, model.skops]
    outs: [validate.json]
  package:
    cmd: python package.py
    deps: [package.py, model.skops, validate.json]
    outs: [bundle]
""",
}


def git_project(path: Path) -> None:
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "bench@example.com"],
        ["config", "user.name", "Bench"],
        ["add", "."],
        ["commit", "-qm", "bench"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True)


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def digits_project(tmp: Path, name: str) -> Path:
    project = tmp / name
    shutil.copytree(
        ROOT / "examples" / "digits",
        project,
        ignore=shutil.ignore_patterns(".shipyard", "model.skops", "metrics.json", "model"),
    )
    (project / ".gitignore").write_text("model.skops\nmetrics.json\n.shipyard/\n")
    git_project(project)
    return project


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"SHIPYARD_HOME": str(home), "SHIPYARD_SERVER_PORT": str(free_port())}


def light_commands(tmp: Path, env: dict[str, str], project: Path) -> dict[str, list[float]]:
    commands = {"--version": ["--version"], "--help": ["--help"], "models list": ["models", "list"]}
    return {
        label: [timed([SHIPYARD, *args], project, env) for _ in range(20)]
        for label, args in commands.items()
    }


def noop_runs(tmp: Path) -> tuple[list[float], list[float], dict[str, list[float]]]:
    after_deploy: list[float] = []
    steady: list[float] = []
    light: dict[str, list[float]] = {}
    for round_ in range(ROUNDS):
        project = digits_project(tmp, f"digits-{round_}")
        env = environment(tmp / f"home-{round_}")
        try:
            timed([SHIPYARD, "run"], project, env)  # trains, registers, deploys v1: not measured
            after_deploy.append(timed([SHIPYARD, "run"], project, env))
            steady.extend(timed([SHIPYARD, "run"], project, env) for _ in range(5))
            if round_ == 0:
                light = light_commands(tmp, env, project)
        finally:
            subprocess.run([SHIPYARD, "undeploy", "digits"], env=env, capture_output=True)
            subprocess.run([SHIPYARD, "server", "--stop"], env=env, capture_output=True)
        print(f"  round {round_ + 1}/{ROUNDS}: first after deploy {after_deploy[-1]:.3f} s")
    return after_deploy, steady, light


def dvc_noop(tmp: Path) -> tuple[str, list[float]]:
    if not DVC.exists():
        raise SystemExit(f"{DVC} is missing: `make bench-loop` makes DVC's venv")
    project = tmp / "dvc-digits"
    project.mkdir()
    for name in ("train.py", "model.py"):
        shutil.copy(ROOT / "examples" / "digits" / name, project / name)
    for name, text in DVC_STAGES.items():
        (project / name).write_text(text)
    git_project(project)
    # the stages' python is Shipyard's venv (scikit-learn, skops), as for shipyard run
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["SHIPYARD_PARAMS"] = json.dumps({"C": 0.1, "max_iter": 1000})  # the example's params
    subprocess.run([str(DVC), "init", "-q"], cwd=project, env=env, check=True)
    subprocess.run([str(DVC), "repro", "-q"], cwd=project, env=env, check=True)
    version = subprocess.run(
        [str(DVC), "--version"], cwd=project, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    return version, [timed([str(DVC), "repro"], project, env) for _ in range(15)]


def _row(label: str, values: list[float], goal: float | None = None) -> str:
    median = statistics.median(values)
    best = min(values)
    verdict = (
        "" if goal is None else f"  (goal ≤ {goal:.2f} s: {'met' if median <= goal else 'not met'})"
    )
    return f"  {label:<46} median {median:6.3f} s   best {best:6.3f} s   n={len(values)}{verdict}"


def main() -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-loop-") as name:
        tmp = Path(name)
        after_deploy, steady, light = noop_runs(tmp)
        dvc_version, dvc = dvc_noop(tmp)
    print(f"\nThe everyday loop (2 cores, load average before {load_before[0]:.1f}, "
          f"after {os.getloadavg()[0]:.1f}):")  # fmt: skip
    print(_row("shipyard --version", light["--version"], GOALS["--version"]))
    print(_row("shipyard --help", light["--help"]))
    print(_row("shipyard models list", light["models list"]))
    print(
        _row("no-op shipyard run, first after a deploy", after_deploy, GOALS["noop_after_deploy"])
    )
    print(_row("no-op shipyard run, steady", steady, GOALS["noop_steady"]))
    print(_row(f"no-op dvc repro ({dvc_version}), 3 stages", dvc))
    ratio = statistics.median(steady) / statistics.median(dvc)
    print(f"  no-op shipyard run (steady) / dvc repro: {ratio:.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "load_average_before": load_before,
                "light": light,
                "noop_after_deploy": after_deploy,
                "noop_steady": steady,
                "dvc": {"version": dvc_version, "noop_repro": dvc},
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
