"""``shipyard serve``: a registered model behind HTTP (KServe V1, Open Inference Protocol V2)."""

from __future__ import annotations

import os
import tempfile

import typer

from shipyard.cli.common import console, home


def serve_cmd(
    ref: str = typer.Argument(..., help="Model to serve: NAME@ALIAS, NAME:VERSION or NAME."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes sharing the port."),
    max_concurrent: int = typer.Option(
        64, min=1, help="Requests a worker holds at once (then 503)."
    ),
    max_body: int = typer.Option(
        8 * 1024 * 1024, min=1, help="Largest request body in bytes (413)."
    ),
    timeout: float = typer.Option(30.0, min=0.001, help="Seconds a prediction may take (408)."),
    max_batch_size: int = typer.Option(32, min=1, help="Rows per adaptive batch (1: no batching)."),
    max_latency_ms: float = typer.Option(
        20.0, min=0.1, help="Latency budget batches are sized for."
    ),
    max_queue: int = typer.Option(
        256, min=1, help="Requests that may wait for a batch (then 503)."
    ),
    trust: list[str] | None = typer.Option(None, help="Extra type a skops file may contain."),
) -> None:
    """Serve a registered model; every worker loads it digest-verified from the registry."""
    import uvicorn

    from shipyard.refs import parse_ref
    from shipyard.registry import resolve
    from shipyard.store import open_stores

    state = home()
    stores = open_stores(state)
    try:
        version = resolve(stores, parse_ref(ref))  # a clear error before any worker starts
    finally:
        stores.close()
    os.environ.update(
        {
            "SHIPYARD_SERVE_REF": f"{version.model}:{version.version}",
            "SHIPYARD_HOME": str(state),
            "SHIPYARD_SERVE_TRUST": ",".join(trust or []),
            "SHIPYARD_SERVE_MAX_CONCURRENT": str(max_concurrent),
            "SHIPYARD_SERVE_MAX_BODY": str(max_body),
            "SHIPYARD_SERVE_TIMEOUT": str(timeout),
            "SHIPYARD_SERVE_MAX_BATCH": str(max_batch_size),
            "SHIPYARD_SERVE_MAX_LATENCY_MS": str(max_latency_ms),
            "SHIPYARD_SERVE_MAX_QUEUE": str(max_queue),
        }
    )
    if workers > 1:  # one metrics registry across the worker processes
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="shipyard-metrics-")
    console.print(
        f"serving {version.model} v{version.version} on http://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''})"
    )
    uvicorn.run(
        "shipyard.serving.server:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
