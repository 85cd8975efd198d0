"""Registry benchmark: 10,000 registrations, listing them, and alias resolution.

Goals (Foundation issue): register ≤ 5 ms median, alias resolve ≤ 1 ms,
listing 10k versions ≤ 0.5 s. Every register here does the full work a real
one does: hash and store the file (fsync, verify, rename), read git state with
a real `git status`, and commit one SQLite transaction (synchronous=FULL) with
its event. Figures are printed, not asserted: compare runs on the same machine.

    make bench            # or: .venv/bin/python benchmarks/bench_registry.py --versions 2000
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

from shipyard import jsonio
from shipyard.refs import parse_ref
from shipyard.registry import RegisterOptions, register, resolve
from shipyard.signature import Signature, TensorSpec
from shipyard.store import open_stores

SIGNATURE = Signature(
    inputs=(TensorSpec("input-0", "FP32", (-1, 64)),),
    outputs=(TensorSpec("output-0", "INT64", (-1,)),),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f} ms"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    args = parser.parse_args()

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
        started = time.perf_counter()
        for i in range(args.versions):
            model.write_bytes(f"model weights #{i} ".encode() * 64)  # ~1.3 kB, distinct
            options.metrics = {"accuracy": 0.9 + (i % 100) / 1000}
            t0 = time.perf_counter()
            register(stores, model, "digits", options)
            register_times.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        stores.metadata.move_alias(
            "digits", "production", args.versions // 2, action="set", actor="bench", reason=""
        )

        list_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            payload = jsonio.dumps(stores.metadata.list_versions("digits"))
            list_times.append(time.perf_counter() - t0)

        cli_times = []
        shipyard = str(Path(sys.executable).parent / "shipyard")
        for _ in range(3):
            t0 = time.perf_counter()
            out = subprocess.run(
                [shipyard, "--home", str(home), "models", "versions", "digits", "--json"],
                check=True,
                capture_output=True,
            ).stdout
            cli_times.append(time.perf_counter() - t0)
        assert len(json.loads(out)) == args.versions

        alias_only = []
        resolve_full = []
        ref = parse_ref("digits@production")
        for _ in range(2000):
            t0 = time.perf_counter()
            stores.metadata.resolve_alias("digits", "production")
            alias_only.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            resolve(stores, ref)
            resolve_full.append(time.perf_counter() - t0)
        stores.close()
        db_size = (home / "registry.db").stat().st_size

    n = args.versions
    print(f"Shipyard registry benchmark: {n:,} versions of one model")
    print(
        f"  register            median {ms(statistics.median(register_times))}   "
        f"p95 {ms(percentile(register_times, 0.95))}   p99 {ms(percentile(register_times, 0.99))}"
        f"   (goal ≤ 5 ms median; {n / total:,.0f} registers/s overall)"
    )
    print(
        f"  list {n:,} as JSON   in-process median {ms(statistics.median(list_times))} "
        f"({len(payload) / 1e6:.1f} MB)   (goal ≤ 500 ms)"
    )
    print(
        f"  `shipyard models versions digits --json`  CLI process median "
        f"{ms(statistics.median(cli_times))} (interpreter start and imports included)"
    )
    print(
        f"  alias resolve       median {ms(statistics.median(alias_only))}   "
        f"p99 {ms(percentile(alias_only, 0.99))}   (goal ≤ 1 ms)"
    )
    print(f"  resolve ref → full version record  median {ms(statistics.median(resolve_full))}")
    print(f"  registry.db after {n:,} versions: {db_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
