"""The servers bench_serving.py compares, each started as its users start it, with 2 workers.

Every server gets the same work: one row of features in, that row's predicted
class out, in the server's own request format. Shipyard runs from the project's
venv; each peer from its own venv under benchmarks/.venvs (``make bench-serving``
creates them), loading the same skops file (MLflow: saved from it by
``mlflow.sklearn``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers.harness import Server

PEERS = Path(__file__).resolve().parent
VENVS = PEERS.parent / ".venvs"
BIN = Path(sys.executable).parent
WORKERS = 2


@dataclass(frozen=True)
class Model:
    """A fitted model saved as a skops file, and the row every request sends."""

    name: str
    estimator: Any
    path: Path
    trusted: tuple[str, ...]  # types skops must be told to load (a forest's trees)
    row: list[float]
    expected: int  # the class the model predicts for ``row``


def version(peer: str, package: str) -> str:
    """The installed version of ``package`` in the peer's venv (from its dist-info)."""
    found = sorted(VENVS.glob(f"{peer}/lib/python*/site-packages/{package}-*.dist-info"))
    if not found:
        raise SystemExit(f"{VENVS / peer} is missing: run `make bench-serving`")
    return found[0].name.removesuffix(".dist-info").split("-")[1]


def _peer_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, **extra}


def shipyard(
    model: Model, home: Path, port: int, *, options: tuple[str, ...] = (), workers: int = WORKERS
) -> Server:
    """``shipyard serve NAME --workers 2`` and ``options``; KServe V1 ``{"instances": [row]}``."""
    trust = [arg for t in model.trusted for arg in ("--trust", t)]
    argv = [str(BIN / "shipyard"), "serve", model.name, "--port", str(port)]
    return Server(
        name="Shipyard" + (f" {' '.join(options)}" if options else ""),
        argv=[*argv, "--workers", str(workers), *trust, *options],
        # `shipyard serve` leaves its metrics directory behind: keep it in the benchmark's tmp.
        env={**os.environ, "SHIPYARD_HOME": str(home), "TMPDIR": str(home.parent)},
        ready_path="/v2/health/ready",
        path=f"/v1/models/{model.name}:predict",
        body=json.dumps({"instances": [model.row]}),
        answer=lambda reply: reply["predictions"][0],
        port=port,
    )


def ceiling(port: int) -> Server:
    """A bare ASGI app answering a constant, on uvicorn as Shipyard runs it (no check)."""
    argv = [str(BIN / "uvicorn"), "constant_app:app", "--app-dir", str(PEERS), "--port", str(port)]
    return Server(
        name="constant ASGI app (ceiling)",
        argv=[*argv, "--workers", str(WORKERS), "--log-level", "warning", "--no-access-log"],
        env=dict(os.environ),
        ready_path="/",
        path="/",
        body=json.dumps({"instances": [[0.0] * 64]}),
        answer=None,
        port=port,
    )


def lower_bound(model: Model, port: int) -> Server:
    """The least an honest Python server does (peers/lower_bound_app.py), on the ceiling's
    uvicorn setup: what share of the ceiling is reachable at all with this model."""
    argv = [str(BIN / "uvicorn"), "lower_bound_app:app", "--app-dir", str(PEERS)]
    quiet = ["--log-level", "warning", "--no-access-log"]
    return Server(
        name="least possible Python server (lower bound)",
        argv=[*argv, "--port", str(port), "--workers", str(WORKERS), *quiet],
        env={**os.environ, "BENCH_MODEL": str(model.path), "BENCH_TRUST": ",".join(model.trusted)},
        ready_path="/ready",
        path="/",
        body=json.dumps({"instances": [model.row]}),
        answer=lambda reply: reply["predictions"][0],
        port=port,
    )


def bentoml(model: Model, port: int, tmp: Path, *, batched: bool = False) -> Server:
    """``bentoml serve`` of a service with ``workers=2``; ``{"instances": [row]}`` → ``[class]``."""
    service = "DigitsBatched" if batched else "Digits"
    argv = [str(VENVS / "bentoml/bin/bentoml"), "serve", f"bentoml_service:{service}"]
    return Server(
        name=f"BentoML {version('bentoml', 'bentoml')}" + (" (batching)" if batched else ""),
        argv=[*argv, "--host", "127.0.0.1", "--port", str(port)],
        env=_peer_env(
            BENCH_MODEL=str(model.path),
            BENCH_TRUST=",".join(model.trusted),
            BENTOML_HOME=str(tmp / "bentoml"),
            BENTOML_DO_NOT_TRACK="true",
        ),
        ready_path="/readyz",
        path="/predict",
        body=json.dumps({"instances": [model.row]}),
        answer=lambda reply: reply[0],
        port=port,
        cwd=PEERS,
    )


def mlflow(model: Model, model_dir: Path, port: int) -> Server:
    """``mlflow models serve --env-manager local -w 2``; ``{"inputs": [row]}``."""
    venv_bin = VENVS / "mlflow/bin"
    argv = [str(venv_bin / "mlflow"), "models", "serve", "-m", str(model_dir)]
    address = ["-h", "127.0.0.1", "-p", str(port)]
    return Server(
        name=f"MLflow {version('mlflow', 'mlflow')}",
        argv=[*argv, "--env-manager", "local", "-w", str(WORKERS), *address],
        env=_peer_env(
            PATH=f"{venv_bin}:{os.environ['PATH']}",  # it starts `uvicorn` from PATH
            UVICORN_ACCESS_LOG="false",
            MLFLOW_DISABLE_TELEMETRY="true",
        ),
        ready_path="/health",
        path="/invocations",
        body=json.dumps({"inputs": [model.row]}),
        answer=lambda reply: reply["predictions"][0],
        port=port,
        cwd=model_dir.parent,
    )


def litserve(model: Model, port: int, tmp: Path, *, max_batch: int = 1) -> Server:
    """LitServe with ``workers_per_device=2`` on CPU; ``{"input": row}`` → ``{"output": class}``."""
    return Server(
        name=f"LitServe {version('litserve', 'litserve')}"
        + (f" (batching, max {max_batch})" if max_batch > 1 else ""),
        argv=[str(VENVS / "litserve/bin/python"), str(PEERS / "litserve_app.py")],
        env=_peer_env(
            BENCH_MODEL=str(model.path),
            BENCH_TRUST=",".join(model.trusted),
            BENCH_PORT=str(port),
            BENCH_MAX_BATCH=str(max_batch),
        ),
        ready_path="/health",
        path="/predict",
        body=json.dumps({"input": model.row}),
        answer=lambda reply: reply["output"],
        port=port,
        cwd=tmp,  # LitServe may write files into its working directory
    )


def save_for_mlflow(model: Model, out: Path) -> Path:
    """Save ``model`` with ``mlflow.sklearn`` (in MLflow's venv); the model directory."""
    script = PEERS / "mlflow_save_model.py"
    subprocess.run(
        [str(VENVS / "mlflow/bin/python"), str(script), str(model.path), str(out), *model.trusted],
        env=_peer_env(MLFLOW_DISABLE_TELEMETRY="true"),
        check=True,
        capture_output=True,
    )
    return out
