"""Each process imports only what it runs with. A model server's worker: its serving
stack, the one store it reads the version from, the model's flavor, and nothing of the
control plane. The control plane: no model library (its image has none).

The probe does what a worker does for a version in the registry — imports
``shipyard.serving.worker``, loads ``digits:1`` through the worker's own loader, builds
the app around it — and lists every module it then holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_serving import digits_registry

# The control plane and everything above the serving runtime.
CONTROL_PLANE = (
    "shipyard.cli", "shipyard.controlplane", "shipyard.ui", "shipyard.client", "shipyard.deploy",
    "shipyard.targets", "shipyard.pipeline", "shipyard.monitor", "shipyard.k8s",
    "shipyard.images", "shipyard.validation", "shipyard.pipeline.packaging", "shipyard.api",
)  # fmt: skip
# Stores and libraries a worker serving an sklearn model from a local home never uses
# (rich comes with scikit-learn's own import: not listed).
UNUSED = (
    "shipyard.store.postgres", "shipyard.store.s3", "shipyard.store.sql.copy",
    "shipyard.store.sql.runs", "shipyard.store.sql.alerts", "shipyard.store.sql.tokens",
    "shipyard.store.sql.deploy",
    "psycopg", "boto3", "botocore", "kubernetes", "pydantic", "jinja2", "httpx", "matplotlib",
    "torch", "keras", "onnxruntime", "typer",
)  # fmt: skip
PROBE = """
import asyncio, json, sys
from shipyard.serving import worker
from shipyard.serving.app import create_app
from shipyard.serving.config import ServeConfig
from shipyard.serving.deployment import Deployment, Settings
from shipyard.serving.routing import route_table

config = ServeConfig("digits", ("1",), {"weights": {"1": 100}}, "digits", home=sys.argv[1])

async def main():
    deployment = Deployment(config.model, Settings(config.deployment), worker.loader(config))
    await deployment.load("1")
    deployment.set_routes(route_table(config.routes))
    create_app(deployment, config.limits, predictions=worker.prediction_log(config))
    await deployment.close()

asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
"""


def test_a_worker_imports_no_control_plane_and_no_store_it_does_not_use(tmp_path: Path) -> None:
    home, _, _ = digits_registry(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(home)],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "sklearn" in loaded and "shipyard.serving.host" in loaded  # it did load the model
    above = sorted(m for m in loaded if m.startswith(CONTROL_PLANE))
    assert above == [], f"a worker imported the control plane: {above}"
    unused = sorted(m for m in loaded if m.split(".")[0] in UNUSED or m.startswith(UNUSED))
    assert unused == [], f"a worker imported what it does not serve with: {unused}"


# What `shipyard server` imports before it listens (controlplane/process.py's `serve`).
CONTROL_PLANE_START = (
    "shipyard.controlplane.process", "shipyard.deploy.controller", "shipyard.deploy.engine",
    "shipyard.deploy.service", "shipyard.k8s.target", "shipyard.monitor.actions",
    "shipyard.monitor.alerting", "shipyard.monitor.scraper", "shipyard.monitor.service",
    "shipyard.controlplane.app", "shipyard.controlplane.context", "shipyard.targets.local",
    "shipyard.ui.sessions",
)  # fmt: skip
MODEL_LIBRARIES = ("numpy", "sklearn", "scipy", "skops", "torch", "keras", "onnxruntime")


def test_the_control_plane_imports_no_model_library() -> None:
    """Its image installs none: a model library on its import path stops it starting."""
    code = (
        "import importlib, json, sys; "
        f"[importlib.import_module(m) for m in {CONTROL_PLANE_START}]; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(done.stdout)
    assert "shipyard.controlplane.app" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in MODEL_LIBRARIES) == []
