"""Registry benchmark: registering versions, listing them, resolving aliases — and MLflow beside it.

Goals (Foundation issue), on 10,000 versions of one model: register ≤ 5 ms
median, alias resolve ≤ 1 ms, listing ≤ 0.5 s. Every register here does the
full work a real one does: hash and store the file (fsync, verify, rename),
read git state with a real `git status`, and commit one SQLite transaction
(synchronous=FULL) with its event.

Side by side, in the same run and with the same number of versions, MLflow's
registry does the equivalent work (a run with params and metrics, the file
logged as an artifact, a model version created from it) when an MLflow virtual
environment is given (`make bench` makes one). Figures are printed, not
asserted: compare runs on the same machine.

    make bench
    .venv/bin/python benchmarks/bench_registry.py --versions 2000 --peer-versions 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shipyard import jsonio
from shipyard.refs import parse_ref
from shipyard.registry import RegisterOptions, register, resolve
from shipyard.signature import Signature, TensorSpec
from shipyard.store import open_stores

HERE = Path(__file__).resolve().parent
SIGNATURE = Signature(
    inputs=(TensorSpec("input-0", "FP32", (-1, 64)),),
    outputs=(TensorSpec("output-0", "INT64", (-1,)),),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def project(root: Path) -> Path:
    """A small git project whose model file is ignored, like a real training repo."""
    root.mkdir()
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "b@example.com"],
        ["config", "user.name", "Bench"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    (root / "train.py").write_text("print('train')\n")
    (root / ".gitignore").write_text("model.skops\n")
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=root, check=True)
    return root


def measure_shipyard(versions: int, *, cli: bool) -> dict[str, Any]:
    """Register ``versions`` versions, then time listing and alias resolution."""
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        home = Path(tmp) / "home"
        repo = project(Path(tmp) / "project")
        stores = open_stores(home)
        model = repo / "model.skops"
        options = RegisterOptions(
            flavor="sklearn",
            signature=SIGNATURE,
            project_dir=repo,
            params={"C": 1.0},
            actor="bench",
        )
        register_times = []
        for i in range(versions):
            model.write_bytes(f"model weights #{i} ".encode() * 64)  # ~1.3 kB, distinct
            options.metrics = {"accuracy": 0.9 + (i % 100) / 1000}
            t0 = time.perf_counter()
            register(stores, model, "digits", options)
            register_times.append(time.perf_counter() - t0)
        stores.metadata.move_alias(
            "digits", "production", versions // 2, action="set", actor="bench", reason=""
        )

        list_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            payload = jsonio.dumps(stores.metadata.list_versions("digits"))
            list_times.append(time.perf_counter() - t0)

        cli_times = []
        shipyard = str(Path(sys.executable).parent / "shipyard")
        for _ in range(5 if cli else 0):
            t0 = time.perf_counter()
            out = subprocess.run(
                [shipyard, "--home", str(home), "models", "versions", "digits", "--json"],
                check=True,
                capture_output=True,
            ).stdout
            cli_times.append(time.perf_counter() - t0)
            assert len(json.loads(out)) == versions

        alias_times = []
        full_times = []
        ref = parse_ref("digits@production")
        for _ in range(2000):
            t0 = time.perf_counter()
            stores.metadata.resolve_alias("digits", "production")
            alias_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            resolve(stores, ref)
            full_times.append(time.perf_counter() - t0)
        stores.close()
        return {
            "tool": "Shipyard",
            "register": register_times,
            "list": statistics.median(list_times),
            "list_bytes": len(payload),
            "cli_list": statistics.median(cli_times) if cli_times else None,
            "alias": alias_times,
            "resolve_full": statistics.median(full_times),
            "db_bytes": (home / "registry.db").stat().st_size,
        }


def measure_peer(python: Path, versions: int) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), str(HERE / "peers" / "mlflow_registry.py"), "--versions", str(versions)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def summary(result: dict[str, Any]) -> str:
    reg, alias = result["register"], result["alias"]
    return (
        f"{result['tool']:<14} register median {ms(statistics.median(reg)):>10}  "
        f"p95 {ms(percentile(reg, 0.95)):>10}   list all {ms(result['list']):>11}   "
        f"alias resolve median {ms(statistics.median(alias)):>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument(
        "--peer-versions",
        type=int,
        default=1_000,
        help="versions for the side-by-side run (MLflow takes ~30 ms each)",
    )
    parser.add_argument(
        "--mlflow-python", type=Path, default=HERE / ".venvs" / "mlflow" / "bin" / "python"
    )
    args = parser.parse_args()

    goal = measure_shipyard(args.versions, cli=True)
    reg = goal["register"]
    n = args.versions
    print(f"Shipyard registry, {n:,} versions of one model")
    print(
        f"  register                 median {ms(statistics.median(reg))}, p95 "
        f"{ms(percentile(reg, 0.95))}, p99 {ms(percentile(reg, 0.99))}  (goal ≤ 5 ms median); "
        f"{n / sum(reg):,.0f}/s"
    )
    print(
        f"  list all as JSON         in-process {ms(goal['list'])} "
        f"({goal['list_bytes'] / 1e6:.1f} MB)  (goal ≤ 500 ms)"
    )
    print(f"  `shipyard models versions digits --json`  whole process {ms(goal['cli_list'])}")
    print(
        f"  alias resolve            median {ms(statistics.median(goal['alias']))}, p99 "
        f"{ms(percentile(goal['alias'], 0.99))}  (goal ≤ 1 ms); full version record by "
        f"reference {ms(goal['resolve_full'])}"
    )
    print(f"  registry.db              {goal['db_bytes'] / 1e6:.1f} MB")

    if not args.mlflow_python.exists():
        print(f"\n(no side-by-side run: {args.mlflow_python} not found; `make bench` creates it)")
        return
    print(f"\nSide by side, {args.peer_versions:,} versions each, same machine, same run:")
    for result in (
        measure_shipyard(args.peer_versions, cli=False),
        measure_peer(args.mlflow_python, args.peer_versions),
    ):
        print("  " + summary(result))
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "registry.json").write_text(json.dumps(goal, default=str))


if __name__ == "__main__":
    main()
