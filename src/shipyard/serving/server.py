"""Starting the server: one ASGI app per uvicorn worker, configured from the environment.

``shipyard serve`` sets the variables and starts uvicorn; each worker process
calls ``app_factory`` to load (and digest-verify) the model itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette

from shipyard.flavors import TrustPolicy
from shipyard.serving import metrics
from shipyard.serving.app import Limits, create_app
from shipyard.serving.host import BatchOptions, ModelHost, load_reference

REF_ENV = "SHIPYARD_SERVE_REF"


def app_factory() -> Starlette:
    """The app for the model named by ``$SHIPYARD_SERVE_REF`` (uvicorn's factory)."""
    env = os.environ
    trust = TrustPolicy(types=tuple(filter(None, env.get("SHIPYARD_SERVE_TRUST", "").split(","))))
    loaded = load_reference(env[REF_ENV], Path(env["SHIPYARD_HOME"]), trust)
    labels = {"model": loaded.name, "version": loaded.version}
    batching = BatchOptions(
        max_batch_size=int(env.get("SHIPYARD_SERVE_MAX_BATCH", "32")),
        max_latency_ms=float(env.get("SHIPYARD_SERVE_MAX_LATENCY_MS", "20")),
        max_queue=int(env.get("SHIPYARD_SERVE_MAX_QUEUE", "256")),
        on_batch=lambda rows, _: metrics.BATCH_SIZE.labels(**labels).observe(rows),
    )
    host = ModelHost(
        loaded,
        max_concurrent=int(env.get("SHIPYARD_SERVE_MAX_CONCURRENT", "64")),
        batching=batching,
    )
    limits = Limits(
        max_body_bytes=int(env.get("SHIPYARD_SERVE_MAX_BODY", str(8 * 1024 * 1024))),
        timeout_s=float(env.get("SHIPYARD_SERVE_TIMEOUT", "30")),
    )
    return create_app(host, limits)
