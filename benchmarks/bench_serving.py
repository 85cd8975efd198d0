"""Serving benchmark: Shipyard against the same server answering a constant, and raw predict.

The digits model (logistic regression, scikit-learn) behind 2 workers, single-row
KServe V1 requests from wrk with 64 connections on loopback, each case in turn and
repeated (rounds alternate, so drift on the machine hits every case alike):

- Shipyard: `shipyard serve digits --workers 2`;
- ceiling: a bare ASGI app answering a constant, on the same uvicorn setup;
- limit: raw in-process `predict` calls on one row, one thread.

Goal (Serving issue): ≥ 70 % of the ceiling on this model. The peers (BentoML,
MLflow, LitServe) join this script in their own venvs next. Figures are printed.

    make bench-serving
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DURATION_S = 8
CONNECTIONS = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < 60:
        try:
            httpx.get(url, timeout=1)
            return time.perf_counter() - started
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def wrk(url: str, body: str, tmp: Path) -> dict[str, float]:
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(CONNECTIONS),
            "-d",
            f"{DURATION_S}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def serve(
    args: list[str], env: dict[str, str], probe: str
) -> tuple[subprocess.Popen[bytes], float]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, wait_ready(probe, proc)


def main() -> None:
    import skops.io
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from shipyard.registry import RegisterOptions, register
    from shipyard.store import open_stores

    features, labels = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    row = features[:1].astype(np.float32)
    body = json.dumps({"instances": row.tolist()})
    results: dict[str, list[dict[str, float]]] = {"Shipyard": [], "ceiling": []}
    starts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-serving-") as name:
        tmp = Path(name)
        skops.io.dump(model, tmp / "model.skops")
        home = tmp / "home"
        stores = open_stores(home)
        register(stores, tmp / "model.skops", "digits", RegisterOptions())
        stores.close()
        env = {**os.environ, "SHIPYARD_HOME": str(home)}
        for _ in range(2):
            port = free_port()
            proc, ready = serve(
                [str(BIN / "shipyard"), "serve", "digits", "--port", str(port), "--workers", "2"],
                env,
                f"http://127.0.0.1:{port}/v2/health/ready",
            )
            starts.append(ready)
            results["Shipyard"].append(
                wrk(f"http://127.0.0.1:{port}/v1/models/digits:predict", body, tmp)
            )
            proc.terminate()
            proc.wait()
            port = free_port()
            proc, _ = serve(
                [
                    str(BIN / "uvicorn"),
                    "constant_app:app",
                    "--app-dir",
                    str(HERE / "peers"),
                    "--port",
                    str(port),
                    "--workers",
                    "2",
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env,
                f"http://127.0.0.1:{port}/",
            )
            results["ceiling"].append(wrk(f"http://127.0.0.1:{port}/", body, tmp))
            proc.terminate()
            proc.wait()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < 3:
        model.predict(row)
        calls += 1
    raw = calls / (time.perf_counter() - started)

    def best(name: str) -> dict[str, float]:
        return max(results[name], key=lambda r: r["rps"])

    shipyard, ceiling = best("Shipyard"), best("ceiling")
    print(
        f"Serving digits (logistic regression), 2 workers, wrk -c {CONNECTIONS}, single-row "
        f"V1 requests, best of 2 rounds of {DURATION_S} s"
    )
    for label, r in (("Shipyard", shipyard), ("constant ASGI app (ceiling)", ceiling)):
        print(
            f"  {label:<28} {r['rps']:>9,.0f} req/s   p50 {r['p50_ms']:6.2f} ms   "
            f"p99 {r['p99_ms']:6.2f} ms   non-2xx {r['errors']:.0f}"
        )
    print(f"  raw predict, in-process, one row at a time: {raw:,.0f} calls/s (one thread)")
    print(f"  Shipyard / ceiling: {shipyard['rps'] / ceiling['rps']:.0%}  (goal ≥ 70%)")
    print(f"  start to ready, 2 workers: {statistics.median(starts):.2f} s median")


if __name__ == "__main__":
    main()
