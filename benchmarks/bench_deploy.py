"""Local CD benchmark: how fast a new version takes all traffic, how fast a rollback is,
and how many requests fail across deploys and rollbacks under a steady load.

Goals (Local CD issue), measured with the digits model (scikit-learn) through the CLI
as a user runs it, under a paced load of 500 requests/s:
- `shipyard deploy digits --version N` (rolling) to 100 % on the new version: ≤ 3 s;
- `shipyard rollback digits` to a warm version, end to end from the command: ≤ 1 s;
- failed requests across 20 deploy/rollback cycles: 0.
Side by side, in the same run: `--strategy recreate`, which is what stopping the old
server and starting a new one amounts to (the hand-rolled way): its time and failures.

    make bench-deploy    # or: .venv/bin/python benchmarks/bench_deploy.py [--cycles 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import skops.io
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from shipyard.registry import RegisterOptions, register
from shipyard.store import open_stores

ROOT = Path(__file__).resolve().parent.parent
SHIPYARD = str(Path(sys.executable).parent / "shipyard")
RESULTS = ROOT / "benchmarks" / "results" / "deploy.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PacedLoad:
    """``rate`` V2 requests a second from ``clients`` keep-alive connections, on a schedule."""

    def __init__(self, port: int, rate: int, clients: int = 8) -> None:
        self.port, self.rate, self.clients = port, rate, clients
        self.ok = 0
        self.failures: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        row = load_digits().data[0].tolist()
        self.body = json.dumps(
            {"inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP32", "data": row}]}
        )
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def __enter__(self) -> PacedLoad:
        self.started = time.perf_counter()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.seconds = time.perf_counter() - self.started

    def _run(self, index: int) -> None:
        interval = self.clients / self.rate
        next_at = time.perf_counter() + index * interval / self.clients
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
            try:
                connection.request("POST", "/v2/models/digits/infer", self.body)
                response = connection.getresponse()
                response.read()
                failed = None if response.status == 200 else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as err:
                failed = type(err).__name__
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            with self.lock:
                if failed is None:
                    self.ok += 1
                else:
                    self.failures[failed] += 1


def registry(home: Path, tmp: Path, count: int) -> None:
    """``count`` versions of digits: logistic regressions with different C."""
    features, labels = load_digits(return_X_y=True)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    stores = open_stores(home)
    for i in range(count):
        model = LogisticRegression(max_iter=200, C=0.05 * (i + 1)).fit(features, labels)
        path = tmp / f"digits-{i}.skops"
        skops.io.dump(model, path)
        register(stores, path, "digits", RegisterOptions())
    stores.close()


def cli(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([SHIPYARD, *args], env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "p90_s": round(float(np.percentile(values, 90)), 3),
        "max_s": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--rate", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    home = tmp / "home"
    versions = args.cycles + 3  # 1, one per cycle, then two for recreate
    print(f"registering {versions} digits versions …", flush=True)
    registry(home, tmp, versions)
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_SERVER_PORT": str(free_port()),
    }
    port = free_port()
    try:
        cli(env, "deploy", "digits", "--version", "1", "--port", str(port))
        deploys, rollbacks = [], []
        with PacedLoad(port, args.rate) as load:
            time.sleep(1)
            for n in range(2, args.cycles + 2):
                deploys.append(cli(env, "deploy", "digits", "--version", str(n)))
                time.sleep(0.3)
                rollbacks.append(cli(env, "rollback", "digits"))  # back to n - 1, still warm
                time.sleep(0.3)
                deploys.append(cli(env, "deploy", "digits", "--version", str(n)))  # warm now
                print(
                    f"  cycle {n - 1:2d}: deploy {deploys[-2]:.2f} s, rollback "
                    f"{rollbacks[-1]:.2f} s, failed so far {sum(load.failures.values())}",
                    flush=True,
                )
            time.sleep(0.5)
        cold = deploys[0::2]
        shipyard = {
            "deploy_new_version": summary(cold),
            "deploy_warm_version": summary(deploys[1::2]),
            "rollback_warm": summary(rollbacks),
            "requests": load.ok + sum(load.failures.values()),
            "achieved_rate": round((load.ok + sum(load.failures.values())) / load.seconds),
            "failed": sum(load.failures.values()),
            "failures": dict(load.failures),
        }
        # the hand-rolled way, side by side: stop the old server, start one on the new version
        recreate = []
        with PacedLoad(port, args.rate) as restart_load:
            time.sleep(1)
            for n in (versions - 1, versions):
                recreate.append(
                    cli(env, "deploy", "digits", "--version", str(n), "--strategy", "recreate")
                )
                time.sleep(1)
        baseline = {
            "deploy": summary(recreate),
            "requests": restart_load.ok + sum(restart_load.failures.values()),
            "failed": sum(restart_load.failures.values()),
            "failures": dict(restart_load.failures),
        }
    finally:  # leave no server behind, whatever happened
        subprocess.run([SHIPYARD, "undeploy", "digits"], env=env, capture_output=True)
        subprocess.run([SHIPYARD, "server", "--stop"], env=env, capture_output=True)
    result = {"cycles": args.cycles, "rate": args.rate, "shipyard": shipyard, "recreate": baseline}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{args.cycles} deploy/rollback cycles under {args.rate} req/s (digits, rolling):")
    print(
        f"  deploy → 100 % on a new version: median {shipyard['deploy_new_version']['median_s']} s"
        f", max {shipyard['deploy_new_version']['max_s']} s   (goal ≤ 3 s)"
    )
    print(
        f"  rollback to the warm version:   median {shipyard['rollback_warm']['median_s']} s, "
        f"max {shipyard['rollback_warm']['max_s']} s   (goal ≤ 1 s)"
    )
    print(
        f"  failed requests: {shipyard['failed']} of {shipyard['requests']} "
        f"(achieved {shipyard['achieved_rate']} req/s)   (goal 0)"
    )
    print(
        f"  side by side, recreate (stop, start): median {baseline['deploy']['median_s']} s, "
        f"failed {baseline['failed']} of {baseline['requests']}"
    )
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
