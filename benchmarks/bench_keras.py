"""Keras benchmark: the MLP of examples/digits-keras served by Shipyard, beside the same
model run in-process, in one run (KERAS_BACKEND=torch).

1. Serving, median of 3 rounds. ``shipyard serve digits-keras@production --workers 2``
   under wrk as in bench_serving.py (2 threads, 64 connections, one 8x8 image per
   KServe V1 request, 2 s warm-up, 5 s measured): requests/s and p99, and how wrk's
   connections were spread over the two workers (``ss``, halfway through). Then
   ``predict_on_batch`` in this process on batches of the mean size the server formed
   (its ``shipyard_batch_size`` histogram), with torch's default threads, with one
   thread, and in 2 forked processes of one thread each (the server's 2 workers share
   the same 2 cores); the ratio server rows/s ÷ in-process rows/s for each.
2. Cold start and hot swap, median of 3 rounds: (a) ``shipyard serve`` with 1 worker,
   process start to the first 200 from /v2/health/ready; (b) the floor, a fresh
   ``python -c`` that imports Keras and loads the same ``.keras`` file, to the file
   loaded (and, apart, to the process gone: torch's teardown takes a while); (c) a new
   version going live in a running server: through the admin interface (load it,
   route all traffic to it) and through ``shipyard deploy`` (rolling, local target),
   each timed until the first answer by the new version (and, for deploy, until the
   command returns).
3. 5-fold cross-validation of the MLP (a fresh ``build_model`` per fold, 10 epochs,
   batch 32, ``keras.utils.set_random_seed(0)`` per fold) sequentially in this
   process, with torch's default threads and with one, against a fork
   ProcessPoolExecutor(2) with one torch thread per process; Keras and torch are
   imported first, as the validation worker has them after loading the candidate.

Figures are printed, not asserted, and written to benchmarks/results/keras.json; the
machine's load average before and after is shown: other work on it skews every figure.

    make bench-keras
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # tensorflow is not installed

import numpy as np
import yaml

from bench_serving import CONNECTIONS, MEASURE_S, WARMUP_S, mean_batch
from peers.harness import HOST, Server, check, free_port, running, wrk

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "keras.json"
EXAMPLE = HERE.parent / "examples" / "digits-keras"
sys.path.insert(0, str(EXAMPLE))  # its model.py: load_data and build_model

from model import build_model, load_data  # noqa: E402

import shipyard  # noqa: E402
from shipyard.keras import keras  # noqa: E402

SHIPYARD = str(Path(sys.executable).parent / "shipyard")
NAME = "digits-keras"
ALIAS = "production"
ROUNDS = 3
RAW_S = 2.0
FOLDS = 5
SWAP_TIMEOUT_S = 120.0
PARAMS: dict[str, Any] = yaml.safe_load((EXAMPLE / "shipyard.yaml").read_text())["train"]["params"]


@dataclass(frozen=True)
class Setup:
    """The fitted model, the image every request sends, and the registry holding versions."""

    tmp: Path
    home: Path
    model: Any
    path: Path  # version 1's .keras file
    image: list[list[float]]
    label: int  # the class the model predicts for ``image``
    versions: int
    failed_starts: list[str] = field(default_factory=list)  # retried, and reported


# -- setup ---------------------------------------------------------------------------


def prepare(tmp: Path) -> Setup:
    """Fit the MLP, save it and ROUNDS more variants, register them all (1 is @production)."""
    from shipyard.registry import RegisterOptions, register
    from shipyard.registry.aliases import set_alias
    from shipyard.store import open_stores

    keras.utils.set_random_seed(int(PARAMS["seed"]))
    images, labels = load_data()
    x_train, _, y_train, _ = shipyard.holdout_split(images, labels, EXAMPLE)
    model = build_model(PARAMS)
    model.fit(
        x_train,
        y_train,
        epochs=int(PARAMS["epochs"]),
        batch_size=int(PARAMS["batch_size"]),
        verbose=0,
    )
    predicted = np.argmax(model.predict_on_batch(images), axis=1)
    index = next(i for i in range(len(labels)) if labels[i] != 0 and predicted[i] == labels[i])
    home = tmp / "home"
    stores = open_stores(home)
    try:
        versions = 1 + ROUNDS  # one swapped in per round
        for n in range(versions):
            if n:  # a different file each time: the registry returns known content's version
                weights = model.get_weights()
                weights[-1] = weights[-1] + np.float32(1e-6 * n)
                model.set_weights(weights)
            path = tmp / f"model-{n + 1}.keras"
            shipyard.save_model(model, path)
            registered = register(stores, path, NAME, RegisterOptions())
            assert registered.version.version == n + 1, registered
        set_alias(stores, NAME, ALIAS, 1, reason="bench_keras")
    finally:
        stores.close()
    (tmp / "logs").mkdir()
    image = [[float(v) for v in row] for row in images[index]]
    return Setup(tmp, home, model, tmp / "model-1.keras", image, int(labels[index]), versions)


def serve(setup: Setup, port: int, workers: int, options: tuple[str, ...] = ()) -> Server:
    """``shipyard serve NAME@ALIAS``; KServe V1 ``{"instances": [image]}``, answered by logits."""
    argv = [SHIPYARD, "serve", f"{NAME}@{ALIAS}", "--port", str(port), "--workers", str(workers)]
    return Server(
        name=f"Shipyard {workers} worker(s)",
        argv=[*argv, *options],
        # `shipyard serve` leaves its metrics directory behind: keep it in the benchmark's tmp.
        env={**os.environ, "SHIPYARD_HOME": str(setup.home), "TMPDIR": str(setup.tmp)},
        ready_path="/v2/health/ready",
        path=f"/v1/models/{NAME}:predict",
        body=json.dumps({"instances": [setup.image]}),
        answer=lambda reply: int(np.argmax(reply["predictions"][0])),
        port=port,
    )


def retried(setup: Setup, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``measure()``; once more if a server failed to start because its workers raced to
    open the new prediction log (a Shipyard bug, counted and shown in the report)."""
    try:
        return measure()
    except RuntimeError as err:
        if "database is locked" not in str(err):
            raise
        setup.failed_starts.append(next(x for x in str(err).splitlines() if "locked" in x))
        print(f"  a server failed to start ({setup.failed_starts[-1]}); once more", flush=True)
        return measure()


# -- 1. serving against in-process ------------------------------------------------------


def load_test(setup: Setup) -> dict[str, float]:
    """wrk against 2 workers, as bench_serving loads every server; with the server's batch
    sizes and how wrk's connections were spread over the workers halfway through."""
    server = serve(setup, free_port(), workers=2)
    with running(server, setup.tmp / "logs"):
        check(server, setup.label)
        url = server.url(server.path)
        warm = wrk(url, server.body, WARMUP_S, CONNECTIONS, setup.tmp)
        time.sleep(min(warm["p99_ms"] / 1000, 5.0))  # let requests wrk abandoned end
        spread: dict[str, float] = {}
        sample = threading.Timer(MEASURE_S / 2, lambda: spread.update(connections(server.port)))
        sample.start()
        figures = wrk(url, server.body, MEASURE_S, CONNECTIONS, setup.tmp)
        sample.join()
        batch = mean_batch(server)
        buckets = batch_calls(server)
    return {**figures, "mean_batch": batch or 1.0, **buckets, **spread}


def connections(port: int) -> dict[str, float]:
    """Established connections to ``port`` held by the busiest and the least busy worker
    (``ss``; none when it is missing)."""
    if shutil.which("ss") is None:
        return {}
    query = ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"]
    out = subprocess.run(query, capture_output=True, text=True, check=False).stdout
    held = [*sorted(Counter(re.findall(r"pid=(\d+)", out)).values(), reverse=True), 0, 0]
    return {"conns_most": float(held[0]), "conns_least": float(held[1])}


def batch_calls(server: Server) -> dict[str, float]:
    """Model calls per ``shipyard_batch_size`` bucket (``calls_le_N``), workers summed."""
    import httpx

    text = httpx.get(server.url("/metrics"), timeout=10).text
    cumulative: dict[float, float] = {}
    for le, value in re.findall(
        r'^shipyard_batch_size_bucket\{.*le="([^"]+)".*\} (\S+)$', text, re.M
    ):
        cumulative[float(le)] = cumulative.get(float(le), 0.0) + float(value)
    calls: dict[str, float] = {}
    below = 0.0
    for le in sorted(cumulative):
        calls[f"calls_le_{le:g}"] = cumulative[le] - below
        below = cumulative[le]
    return calls


def _rate(model: Any, batch: np.ndarray, seconds: float) -> float:
    model.predict_on_batch(batch)  # the first call builds torch's kernels
    calls, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        model.predict_on_batch(batch)
        calls += 1
    return calls * len(batch) / (time.perf_counter() - began)


def _rate_worker(model: Any, batch: np.ndarray, start: Any, out: Any) -> None:
    import torch

    torch.set_num_threads(1)
    start.wait()
    out.put(_rate(model, batch, RAW_S))


def in_process(setup: Setup, rows: int) -> dict[str, float]:
    """Rows/s of ``predict_on_batch`` on ``rows`` rows: default threads, 1 thread, 2 procs."""
    import torch

    batch = np.tile(np.asarray(setup.image, dtype=np.float32), (rows, 1, 1))
    default = torch.get_num_threads()
    figures = {"threads_default": float(default), "default": _rate(setup.model, batch, RAW_S)}
    torch.set_num_threads(1)
    try:
        figures["one_thread"] = _rate(setup.model, batch, RAW_S)
    finally:
        torch.set_num_threads(default)
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(2), context.Queue()
    procs = [
        context.Process(target=_rate_worker, args=(setup.model, batch, start, out))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    figures["two_procs"] = sum(out.get(timeout=60 + RAW_S) for _ in procs)
    for proc in procs:
        proc.join()
    return figures


# -- 2. cold start and hot swap ---------------------------------------------------------


def cold_and_admin_swap(setup: Setup, version: int) -> dict[str, float]:
    """(a) a fresh 1-worker server's time to ready; (c) ``version`` loaded into it and routed
    to through its admin interface, until the first answer by it."""
    from shipyard.serving.admin_client import AdminClient

    socket_path, token = setup.tmp / f"admin-{version}.sock", f"bench-{version}"
    options = ("--admin-socket", str(socket_path), "--admin-token", token)
    server = serve(setup, free_port(), workers=1, options=options)
    with running(server, setup.tmp / "logs") as ready_s:
        check(server, setup.label)
        admin = AdminClient(socket_path, token)
        with first_answer_by(server.port, version, setup.image) as swap:
            admin.load(version)
            admin.route({str(version): 100})
    return {"ready_s": ready_s, "admin_swap_s": swap()}


def floor(setup: Setup) -> dict[str, float]:
    """Seconds from starting a fresh Python process that imports Keras (torch) and loads the
    file to the file loaded (the process says when), and to the process gone."""
    code = (
        f"import time, keras; keras.saving.load_model({str(setup.path)!r}); print(time.monotonic())"
    )
    started = time.monotonic()  # the child's clock: CLOCK_MONOTONIC is machine-wide
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    exited = time.monotonic()
    return {"floor_s": float(done.stdout.split()[-1]) - started, "floor_exit_s": exited - started}


@contextlib.contextmanager
def first_answer_by(
    port: int, version: int, image: list[list[float]]
) -> Iterator[Callable[[], float]]:
    """Ask ``port`` (V2, one image) until ``version`` answers; yields a reader of the seconds
    from entering the block to that answer, waited for on leaving the block."""
    tensor = {"name": "input-0", "shape": [1, 8, 8], "datatype": "FP32"}
    body = json.dumps({"inputs": [{**tensor, "data": [v for row in image for v in row]}]})
    found: dict[str, float] = {}
    stop = threading.Event()

    def probe() -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        while not stop.is_set():
            try:
                connection.request("POST", f"/v2/models/{NAME}/infer", body)
                reply = connection.getresponse()
                data = reply.read()
                if reply.status == 200 and json.loads(data)["model_version"] == str(version):
                    found["s"] = time.perf_counter() - started
                    return
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=30)
            time.sleep(0.01)

    started = time.perf_counter()
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield lambda: found["s"]
        thread.join(SWAP_TIMEOUT_S)
        if "s" not in found:
            raise RuntimeError(f"version {version} did not answer within {SWAP_TIMEOUT_S:.0f} s")
    finally:
        stop.set()


@contextlib.contextmanager
def deployment(setup: Setup) -> Iterator[tuple[dict[str, str], int]]:
    """``shipyard deploy`` of version 1 on the local target; undeployed, control plane
    stopped, on the way out."""
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(setup.home),
        "SHIPYARD_SERVER_PORT": str(free_port()),
        "TMPDIR": str(setup.tmp),
    }
    port = free_port()
    try:
        cli(env, "deploy", NAME, "--version", "1", "--port", str(port))
        yield env, port
    finally:
        subprocess.run([SHIPYARD, "undeploy", NAME], env=env, capture_output=True)
        subprocess.run([SHIPYARD, "server", "--stop"], env=env, capture_output=True)


def cli(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([SHIPYARD, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"shipyard {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def deploy_swap(setup: Setup, env: dict[str, str], port: int, version: int) -> dict[str, float]:
    """``shipyard deploy NAME --version N`` into the running deployment: seconds to the
    first answer by N, and to the command's return (all traffic on N)."""
    with first_answer_by(port, version, setup.image) as swap:
        command_s = cli(env, "deploy", NAME, "--version", str(version))
    return {"deploy_first_s": swap(), "deploy_command_s": command_s}


# -- 3. cross-validation ---------------------------------------------------------------

_FOLDS: dict[str, Any] = {}  # the data, inherited by forked pool processes


def _fold(task: tuple[np.ndarray, np.ndarray]) -> float:
    """One fold as the validation worker runs it: fresh model, seeded, fitted, scored."""
    train, val = task
    x, y = _FOLDS["x"], _FOLDS["y"]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = build_model(PARAMS)
    model.fit(x[train], y[train], epochs=10, batch_size=32, verbose=0)
    predicted = np.argmax(model.predict(x[val], verbose=0), axis=1)
    return float(np.mean(predicted == y[val]))


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def cross_validation() -> dict[str, Any]:
    """Seconds and mean accuracy of 5 folds sequentially, then in a fork pool of 2."""
    import torch
    from sklearn.model_selection import StratifiedKFold

    images, labels = load_data()
    x_train, _, y_train, _ = shipyard.holdout_split(images, labels, EXAMPLE)
    _FOLDS.update(x=x_train, y=y_train)
    splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    tasks = list(splitter.split(x_train, y_train))
    started = time.perf_counter()
    sequential = [_fold(task) for task in tasks]
    sequential_s = time.perf_counter() - started
    default = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        one_thread = [_fold(task) for task in tasks]
        one_thread_s = time.perf_counter() - started
    finally:
        torch.set_num_threads(default)
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=context, initializer=_one_thread) as pool:
        pooled = list(pool.map(_fold, tasks))
        pool_threads = pool.submit(_threads).result()
    pool_s = time.perf_counter() - started
    return {
        "sequential_s": sequential_s,
        "sequential_threads": default,
        "sequential_accuracy": statistics.fmean(sequential),
        "one_thread_s": one_thread_s,
        "one_thread_accuracy": statistics.fmean(one_thread),
        "pool_s": pool_s,
        "pool_threads": pool_threads,
        "pool_accuracy": statistics.fmean(pooled),
    }


# -- the run ---------------------------------------------------------------------------


def machine() -> str:
    import torch

    return (
        f"shipyard {shipyard.__version__}, Python {platform.python_version()}, keras "
        f"{keras.__version__} on {keras.backend.backend()} {torch.__version__} "
        f"({torch.get_num_threads()} threads by default); {os.cpu_count()} cores "
        f"({platform.machine()}), load average {os.getloadavg()[0]:.1f}"
    )


def _brief(figures: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:,.2f}" for k, v in figures.items() if not k.startswith("calls_"))


def aggregate(loads: list[dict[str, float]]) -> dict[str, float]:
    """The median of each figure over rounds; errors and model calls summed."""
    summed = ("non_2xx", "socket_errors", "requests")
    return {
        key: (sum if key in summed or key.startswith("calls_") else statistics.median)(
            [r.get(key, 0.0) for r in loads]
        )
        for key in loads[0]
    }


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that every server started is stopped on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # every server started is stopped
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run `make bench-keras` (it installs it)")
    began, load_before = time.perf_counter(), os.getloadavg()
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-keras-") as name:
        setup = prepare(Path(name))
        print(f"  fitted and registered {setup.versions} versions of {NAME}", flush=True)

        loads = []
        for n in range(ROUNDS):
            loads.append(retried(setup, partial(load_test, setup)))
            print(f"  serving {n + 1}/{ROUNDS}: {_brief(loads[-1])}", flush=True)
        served = aggregate(loads)
        rows = max(1, round(served["mean_batch"]))
        raw = in_process(setup, rows)
        print(f"  in-process, {rows} rows: {_brief(raw)}", flush=True)

        rounds: list[dict[str, float]] = []
        for n in range(ROUNDS):
            figures = retried(setup, partial(cold_and_admin_swap, setup, n + 2))
            figures.update(floor(setup))
            rounds.append(figures)
            print(f"  round {n + 1}/{ROUNDS}: {_brief(figures)}", flush=True)
        with deployment(setup) as (env, port):
            for n in range(ROUNDS):
                figures = deploy_swap(setup, env, port, n + 2)
                rounds[n].update(figures)
                print(f"  deploy {n + 1}/{ROUNDS}: {_brief(figures)}", flush=True)

        cv = cross_validation()
    cold = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    report(served, loads, rows, raw, cold, cv)
    for failure in setup.failed_starts:
        print(f"\nA server start failed and was retried: {failure}")
    total_s, load_after = time.perf_counter() - began, os.getloadavg()
    print(
        f"\nTotal {total_s:.0f} s; load average before {load_before[0]:.1f}, after "
        f"{load_after[0]:.1f} ({os.cpu_count()} cores: other work skews every figure)"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    results = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "total_s": total_s,
        "serving": {"median": served, "rounds": loads},
        "in_process": {"rows": rows, **raw},
        "cold_start": {"median": cold, "rounds": rounds},
        "cross_validation": cv,
        "failed_starts": setup.failed_starts,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Results: {RESULTS.relative_to(HERE.parent)}")


def report(
    served: dict[str, float],
    loads: list[dict[str, float]],
    rows: int,
    raw: dict[str, float],
    cold: dict[str, float],
    cv: dict[str, Any],
) -> None:
    """The three tables."""
    print(
        f"\n1. serving, one 8x8 image per request; wrk -t2 -c{CONNECTIONS}, {MEASURE_S:g} s after "
        f"a {WARMUP_S:g} s warm-up, median of {ROUNDS} rounds; in-process {RAW_S:g} s per figure"
    )
    print(f"  {'':<48} {'rows/s':>8} {'p99 ms':>7} {'server ÷ this':>14}")
    print(f"  {'shipyard serve --workers 2':<48} {served['rps']:>8,.0f} {served['p99_ms']:>7.1f}")
    threads = int(raw["threads_default"])
    for key, label in (
        ("default", f"predict_on_batch, {rows} rows, {threads} torch threads"),
        ("one_thread", f"predict_on_batch, {rows} rows, 1 torch thread"),
        ("two_procs", f"predict_on_batch, {rows} rows, 2 procs x 1 thread"),
    ):
        print(f"  {label:<48} {raw[key]:>8,.0f} {'':>7} {served['rps'] / raw[key]:>14.2f}")
    each = ", ".join(
        f"{r['rps']:,.0f}"
        + (f" ({r['conns_most']:.0f}/{r['conns_least']:.0f})" if "conns_most" in r else "")
        for r in loads
    )
    print(f"  server req/s in each round (connections on the busiest/other worker): {each}")
    print(
        f"  server: p50 {served['p50_ms']:.1f} ms; errors {served['non_2xx']:.0f} non-2xx, "
        f"{served['socket_errors']:.0f} socket, of {served['requests']:,.0f} requests"
    )
    calls = {k.removeprefix("calls_le_"): v for k, v in served.items() if k.startswith("calls_")}
    total = sum(calls.values()) or 1.0
    shares = ", ".join(f"≤{le}: {n / total:.0%}" for le, n in calls.items() if n)
    print(f"  server batches: mean {served['mean_batch']:.1f} rows; model calls by size {shares}")

    print(f"\n2. cold start and hot swap, median of {ROUNDS} rounds")
    for key, label in (
        ("ready_s", "(a) shipyard serve, 1 worker, start to ready"),
        ("floor_s", "(b) floor: python -c import keras; load_model"),
        ("floor_exit_s", "    the same, to the process gone"),
        ("admin_swap_s", "(c) admin API load + route, to first answer"),
        ("deploy_first_s", "(c) shipyard deploy (rolling), to first answer"),
        ("deploy_command_s", "(c) shipyard deploy (rolling), command returned"),
    ):
        print(f"  {label:<50} {cold[key]:>6.2f} s")
    print(f"  {'(a) - (b)':<50} {cold['ready_s'] - cold['floor_s']:>6.2f} s")

    print(f"\n3. {FOLDS}-fold cross-validation, 10 epochs, batch 32, a fresh model per fold")
    runs = {
        f"sequential, {cv['sequential_threads']} torch threads (default)": "sequential",
        "sequential, 1 torch thread": "one_thread",
        f"ProcessPoolExecutor(2), fork, {cv['pool_threads']} torch thread each": "pool",
    }
    for label, key in runs.items():
        print(f"  {label:<50} {cv[f'{key}_s']:>6.2f} s  accuracy {cv[f'{key}_accuracy']:.4f}")
    pool, sequential = cv["pool_s"], cv["sequential_s"]
    faster = "the pool" if pool < sequential else "sequential"
    print(
        f"  faster: {faster}, {max(pool, sequential) / min(pool, sequential):.2f}x "
        "(pool against sequential with default threads)"
    )


if __name__ == "__main__":
    main()
