"""Serving benchmark: Shipyard's model server beside the servers a user would pick instead.

Method. Every server runs 2 workers on 127.0.0.1 and gets single-row requests in
its own format from wrk (2 threads, 64 connections, 10 s timeout), a separate
process: a 2 s warm-up, a pause as long as the warm-up's p99 (so that requests wrk
abandoned are not counted against the next run), then 5 s measured. Before any
load each server must answer the benchmark's row with the model's class, so no
one is measured on error responses; non-2xx answers and socket errors under load
are counted and shown.

Case 1, digits (scikit-learn logistic regression, 64 features): Shipyard
(``shipyard serve``, KServe V1, default options: adaptive batching on); a bare ASGI
app answering a constant on the same uvicorn setup (the ceiling); the least a Python
model server can do on that setup (parse, one ``predict`` per event-loop turn on the
loop, encode, nothing else: the lower bound of what any server reaches); BentoML, MLflow
(``mlflow models serve``) and LitServe, each in its own venv with its stock
settings, BentoML and LitServe also with their batching on (32 rows); and raw
``predict`` on one row in-process, one thread. Peers: benchmarks/peers/.

Case 2, compute-heavy, where batching matters: a 300-tree random forest. Shipyard
with default options (batches up to 32 rows) and with ``--max-batch-size 64``,
against raw ``predict`` on batches of 32 and 64 rows of the same row, in 1 and in 2
processes started together (2 processes match 2 workers, each running one model
call at a time); Shipyard's rows/s is reported as a share of the matching batch
size in 2 processes.

Cold start: process start to the first 200 from ``/v2/health/ready`` for
``shipyard serve`` with 1 and 2 workers (the first worker ready), against the
floor: a fresh Python process that imports scikit-learn and skops and loads the
model. When torch is installed, as here, skops' own import imports it (its list of
trusted types walks every scikit-learn subpackage); Shipyard imports skops without
it, so the floor is measured both ways and the goal is judged against the one
without torch. Hot swap: in a running 2-worker server of digits v1, the time
from asking the admin socket to load v2 and route all traffic to it until the
first answer from v2.

A last table puts each goal of the work on speed beside its figure.

Every measure runs once per round, 3 rounds, each round starting a third further
into the list, so drift on the machine (wrk shares its 2 cores) hits every case
alike. Each figure is the median over rounds, taken separately per figure; errors
are summed. The machine's load average before and after is recorded: other work
on the machine skews every figure. Results are printed and written to
benchmarks/results/serving.json.

    make bench-serving
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from peers import report, servers
from peers.harness import Server, check, free_port, running, wrk
from peers.servers import Model

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "serving.json"
ROUNDS = 3
WARMUP_S = 2.0
MEASURE_S = 5.0
RAW_S = 2.0
CONNECTIONS = 64
FOREST_TREES = 300
BATCHES = (32, 64)

Figures = dict[str, float]
Job = tuple[str, str, Callable[[], Figures]]  # section, label, measure


@dataclass(frozen=True)
class Setup:
    """What every round uses: the models, Shipyard's registry, the peers' files."""

    tmp: Path
    home: Path
    digits: Model
    forest: Model
    mlflow_dir: Path


def fit_models(tmp: Path) -> tuple[Model, Model, Model]:
    """The digits logistic regression, a 300-tree forest and a second digits model (v2 of
    digits), saved with skops."""
    import skops.io
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    linear = LogisticRegression(max_iter=1000).fit(x, y)
    linear2 = LogisticRegression(C=0.5, max_iter=1000).fit(x, y)  # digits v2, for the hot swap
    forest = RandomForestClassifier(FOREST_TREES, random_state=0, n_jobs=2).fit(x, y)
    forest.set_params(n_jobs=None)  # predict in one thread, as one worker does
    # A row both models get right, of a class other than 0 (what a broken server might send).
    index = next(i for i in range(len(y)) if y[i] != 0 and _right((linear, forest), x[i], y[i]))
    models = []
    for name, estimator in (("digits", linear), ("forest", forest), ("digits-2", linear2)):
        path = tmp / f"{name}.skops"
        skops.io.dump(estimator, path)
        trusted = tuple(skops.io.get_untrusted_types(file=path))
        row = [float(v) for v in x[index]]
        models.append(Model(name, estimator, path, trusted, row, int(y[index])))
    return models[0], models[1], models[2]


def _right(estimators: tuple[Any, ...], row: Any, label: int) -> bool:
    return all(int(m.predict(row.reshape(1, -1))[0]) == label for m in estimators)


def prepare(tmp: Path) -> Setup:
    """Fit and save the models, register them with Shipyard, save the digits one for MLflow."""
    from shipyard.flavors import TrustPolicy
    from shipyard.registry import RegisterOptions, register
    from shipyard.store import open_stores

    digits, forest, digits2 = fit_models(tmp)
    home = tmp / "home"
    stores = open_stores(home)
    try:
        for model in (digits, forest, digits2):
            options = RegisterOptions(trust=TrustPolicy(types=model.trusted))
            register(stores, model.path, model.name.removesuffix("-2"), options)
    finally:
        stores.close()
    mlflow_dir = servers.save_for_mlflow(digits, tmp / "mlflow-model")
    (tmp / "logs").mkdir()
    return Setup(tmp, home, digits, forest, mlflow_dir)


def load_test(setup: Setup, make: Callable[[int], Server], expected: int | None) -> Figures:
    """Start a server, check its answer, warm it up, measure it under wrk, stop it."""
    server = make(free_port())
    with running(server, setup.tmp / "logs") as start_s:
        check(server, expected)
        url = server.url(server.path)
        warm = wrk(url, server.body, WARMUP_S, CONNECTIONS, setup.tmp)
        # Requests wrk abandoned when the warm-up ended may still be running: let them end.
        time.sleep(min(warm["p99_ms"] / 1000, 5.0))
        figures = wrk(url, server.body, MEASURE_S, CONNECTIONS, setup.tmp)
        batch = mean_batch(server)
    return {**figures, "start_s": start_s, **({"mean_batch": batch} if batch else {})}


def mean_batch(server: Server) -> float | None:
    """Rows per model call over the server's life, from Shipyard's /metrics (if it is one)."""
    if not server.name.startswith("Shipyard"):
        return None
    text = httpx.get(server.url("/metrics"), timeout=10).text
    total = {
        part: sum(
            float(v) for v in re.findall(rf"^shipyard_batch_size_{part}\S* (\S+)$", text, re.M)
        )
        for part in ("sum", "count")
    }
    return total["sum"] / total["count"] if total["count"] else None


def _raw_worker(estimator: Any, batch: Any, seconds: float, start: Any, out: Any) -> None:
    start.wait()
    calls, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        estimator.predict(batch)
        calls += 1
    out.put(calls * len(batch) / (time.perf_counter() - began))


def raw_rate(model: Model, rows: int, processes: int) -> Figures:
    """Rows/s of ``predict`` on batches of ``rows``, in ``processes`` started together (fork)."""
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(processes), context.Queue()
    batch = np.tile(np.asarray(model.row), (rows, 1))
    workers = [
        context.Process(target=_raw_worker, args=(model.estimator, batch, RAW_S, start, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    rates = [out.get(timeout=60 + RAW_S) for _ in workers]
    for worker in workers:
        worker.join()
    return {"rows_per_s": sum(rates)}


def cold_start(setup: Setup, workers: int) -> Figures:
    """Seconds from ``shipyard serve`` starting to its first 200 from /v2/health/ready."""
    server = servers.shipyard(setup.digits, setup.home, free_port(), workers=workers)
    with running(server, setup.tmp / "logs") as start_s:
        return {"seconds": start_s}


def hot_swap(setup: Setup) -> Figures:
    """Seconds from asking a running server (v1) to load v2 and route to it, to v2's first
    answer."""
    from shipyard.serving.admin_client import AdminClient
    from shipyard.serving.server import admin_socket_path

    server = servers.shipyard(setup.digits, setup.home, free_port())
    with running(server, setup.tmp / "logs"):
        socket_path = admin_socket_path(setup.home, f"serve-{server.port}")
        token = socket_path.with_name(socket_path.name + ".token").read_text().strip()
        admin = AdminClient(socket_path, token)
        url = server.url("/v2/models/digits/infer")
        row = setup.digits.row
        body = {"inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP32",
                            "data": row}]}  # fmt: skip
        started = time.perf_counter()
        admin.load("2")
        admin.route({"2": 100})
        while True:
            answer = httpx.post(url, json=body, timeout=10)
            if answer.status_code != 200:
                raise RuntimeError(f"hot swap: {answer.status_code} {answer.text}")
            if answer.json()["model_version"] == "2":
                return {"seconds": time.perf_counter() - started}


FLOORS = {
    # skops as it comes: its list of trusted types walks scikit-learn, importing torch
    "floor": "import sklearn.linear_model, skops.io as skops_io",
    # skops imported as Shipyard imports it, without the array libraries it does not need
    "floor without torch": "import sklearn.linear_model; "
    "from shipyard.flavors.skops_import import skops_io; skops_io = skops_io()",
}


def import_and_load_floor(setup: Setup, imports: str) -> Figures:
    """Seconds a fresh Python process takes to import scikit-learn and skops and load the model."""
    code = (
        f"{imports}; "
        f"skops_io.load({str(setup.digits.path)!r}, trusted={list(setup.digits.trusted)!r})"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return {"seconds": time.perf_counter() - started}


def jobs(setup: Setup) -> list[Job]:
    """Every measure of one round, in the order of the first round."""
    d, f, tmp, home = setup.digits, setup.forest, setup.tmp, setup.home
    bentoml, mlflow, litserve = (f"{k} {v}" for k, v in peer_versions().items())
    serving: list[tuple[str, Callable[[int], Server], int | None]] = [
        ("Shipyard", partial(servers.shipyard, d, home), d.expected),
        ("ceiling", servers.ceiling, None),
        ("lower bound", partial(servers.lower_bound, d), d.expected),
        (bentoml, partial(servers.bentoml, d, tmp=tmp), d.expected),
        (f"{bentoml}, batching", partial(servers.bentoml, d, tmp=tmp, batched=True), d.expected),
        (mlflow, partial(servers.mlflow, d, setup.mlflow_dir), d.expected),
        (litserve, partial(servers.litserve, d, tmp=tmp), d.expected),
        (f"{litserve}, batching", partial(servers.litserve, d, tmp=tmp, max_batch=32), d.expected),
    ]
    found: list[Job] = [
        ("digits", label, partial(load_test, setup, make, expected))
        for label, make, expected in serving
    ]
    found.append(("digits", "raw predict, 1 row", partial(raw_rate, d, 1, 1)))
    for label, options in (
        ("Shipyard", ()),
        ("Shipyard --max-batch-size 64", ("--max-batch-size", "64")),
    ):
        make = partial(servers.shipyard, f, home, options=options)
        found.append(("forest", label, partial(load_test, setup, make, f.expected)))
    for rows, processes in ((1, 1), *((b, n) for b in BATCHES for n in (1, 2))):
        label = f"raw predict, {rows} rows, {processes} proc"
        found.append(("forest", label, partial(raw_rate, f, rows, processes)))
    return [
        *found,
        ("cold start", "shipyard serve, 1 worker", partial(cold_start, setup, 1)),
        ("cold start", "shipyard serve, 2 workers", partial(cold_start, setup, 2)),
        *(
            ("cold start", name, partial(import_and_load_floor, setup, imports))
            for name, imports in FLOORS.items()
        ),
        ("cold start", "hot swap, 2 workers", partial(hot_swap, setup)),
    ]


Results = dict[str, dict[str, list[Figures]]]  # section → label → one figures dict per round


def run_rounds(setup: Setup) -> Results:
    """Every job once per round; each round starts a further 1/ROUNDS into the list."""
    todo = jobs(setup)
    results: Results = {}
    for round_ in range(ROUNDS):
        shift = round_ * len(todo) // ROUNDS
        for section, label, measure in todo[shift:] + todo[:shift]:
            figures = measure()
            results.setdefault(section, {}).setdefault(label, []).append(figures)
            print(f"  round {round_ + 1}/{ROUNDS}  {section:<10} {label:<36} {_brief(figures)}")
    return results


def _brief(figures: Figures) -> str:
    keys = ("rps", "p50_ms", "p99_ms", "non_2xx", "rows_per_s", "seconds", "mean_batch")
    return "  ".join(f"{k} {figures[k]:,.2f}" for k in keys if k in figures)


def medians(results: Results) -> dict[str, dict[str, Figures]]:
    """Per section and label, the median over rounds of each figure (errors: the total)."""
    summary: dict[str, dict[str, Figures]] = {}
    for section, labels in results.items():
        for label, rounds in labels.items():
            keys = rounds[0].keys()
            summary.setdefault(section, {})[label] = {
                key: (sum if key in ("non_2xx", "socket_errors") else statistics.median)(
                    [r[key] for r in rounds]
                )
                for key in keys
            }
    return summary


def peer_versions() -> dict[str, str]:
    """The peers' versions, read from their venvs (missing venv: a clear exit)."""
    return {
        "BentoML": servers.version("bentoml", "bentoml"),
        "MLflow": servers.version("mlflow", "mlflow"),
        "LitServe": servers.version("litserve", "litserve"),
    }


def metadata(began: float, load_before: tuple[float, ...]) -> dict[str, Any]:
    """How, where and with what the figures were taken."""
    import shipyard

    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "method": {
            "rounds": ROUNDS,
            "warmup_s": WARMUP_S,
            "measure_s": MEASURE_S,
            "raw_s": RAW_S,
            "connections": CONNECTIONS,
            "wrk_threads": 2,
            "workers": servers.WORKERS,
            "forest_trees": FOREST_TREES,
            "batches": BATCHES,
            "aggregate": "median",  # over rounds, of each figure separately; errors: summed
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "shipyard": {"version": shipyard.__version__, "imported_from": shipyard.__file__},
        "peers": peer_versions(),
        "total_s": time.perf_counter() - began,
    }


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that every server started is stopped on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    began, load_before = time.perf_counter(), os.getloadavg()
    peer_versions()  # fail early when a peer's venv is missing
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-serving-") as name:
        setup = prepare(Path(name))
        print(f"Serving benchmark: {ROUNDS} rounds, load average {load_before[0]:.1f}")
        results = run_rounds(setup)
    summary = medians(results)
    meta = metadata(began, load_before)
    print("\n" + report.render(summary, results, meta["method"]))
    print(f"\nTotal {meta['total_s'] / 60:.1f} min; load average before {load_before[0]:.1f}, "
          f"after {meta['machine']['load_average_after'][0]:.1f} (2 cores)")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({**meta, "summary": summary, "rounds": results}, indent=2) + "\n")
    print(f"Results: {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
