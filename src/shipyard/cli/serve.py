"""``shipyard serve``: registered versions (or a bundle) behind HTTP — KServe V1 and the
Open Inference Protocol V2 — with a traffic split, shadows and an admin interface."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from shipyard.cli.common import console, home
from shipyard.errors import InvalidInputError
from shipyard.serving.config import BatchOptions, Limits, LogOptions, ServeConfig
from shipyard.serving.options import SERVE_OPTIONS


def _from_registry(
    ref: str, weights: str | None, shadow: str | None, base: ServeConfig
) -> ServeConfig:
    """Versions and routes from a reference (one version) or ``--weights`` (several)."""
    from shipyard.home import stores_for
    from shipyard.refs import parse_ref
    from shipyard.registry import resolve
    from shipyard.serving.routing import parse_shares, route_table

    state = home()
    stores = stores_for(state)
    try:
        if weights is None:
            version = resolve(stores, parse_ref(ref))  # a clear error before any worker starts
            model, shares = version.model, {str(version.version): 100}
        else:
            model, shares = parse_ref(ref).model, parse_shares(weights, "--weights")
        mirrored = parse_shares(shadow, "--shadow") if shadow else {}
        routes = route_table({"weights": shares, "shadow": mirrored}, "--weights/--shadow")
        for number in sorted(routes.versions(), key=int):
            resolve(stores, parse_ref(f"{model}:{number}"))
    finally:
        stores.close()
    return replace(
        base,
        model=model,
        versions=tuple(sorted(routes.versions(), key=int)),
        routes=routes.to_data(),
        home=str(state),
    )


def _from_bundle(path: Path, base: ServeConfig) -> ServeConfig:
    """A bundle holds one version; its files are verified here and again by each worker."""
    from shipyard.serving.bundle import bundle_version, read_manifest

    manifest = read_manifest(path)
    version = bundle_version(manifest)
    return replace(
        base,
        model=manifest["name"],
        versions=(version,),
        routes={"weights": {version: 100}, "shadow": {}},
        bundle=str(path.resolve()),
    )


def _prediction_log(path: str | None, retention: str, max_rows: int, name: str) -> LogOptions:
    """Where predictions are logged for feedback, and for how long."""
    from shipyard.units import parse_duration

    try:
        seconds = parse_duration(retention)
    except ValueError as err:
        raise InvalidInputError(f"--prediction-retention: {err}") from None
    if path == "none":
        return LogOptions(None, seconds, max_rows)
    file = Path(path) if path else home() / "predictions" / f"{name}.sqlite"
    return LogOptions(str(file.resolve()), seconds, max_rows)


def serve_option(name: str) -> Any:
    """The ``shipyard serve`` flag of a serving option, from its one table."""
    option = SERVE_OPTIONS[name]
    if option.type in (int, float):
        return typer.Option(option.default, min=option.low, max=option.high, help=option.help)
    return typer.Option(option.default, help=option.help)


def serve_cmd(
    ref: str = typer.Argument(
        ..., help="What to serve: NAME@ALIAS, NAME:VERSION, NAME (with --weights) or a bundle path."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes sharing the port."),
    weights: str | None = typer.Option(
        None, help='Traffic split between versions: 3=90,4=10 or {"3": 90, "4": 10}.'
    ),
    shadow: str | None = typer.Option(
        None, help="Shadow versions and the percent of traffic they get a copy of: 5=20."
    ),
    deployment: str | None = typer.Option(
        None, help="Deployment name in metrics and logs (default: the model's name)."
    ),
    max_concurrent: int = serve_option("max_concurrent"),
    max_body: int = serve_option("max_body"),
    timeout: float = serve_option("timeout"),
    max_batch_size: int = serve_option("max_batch_size"),
    max_latency_ms: float = serve_option("max_latency_ms"),
    max_queue: int = serve_option("max_queue"),
    threads: int = serve_option("threads"),
    trust: list[str] | None = serve_option("trust"),
    trust_pickle: bool = serve_option("trust_pickle"),
    admin_socket: Path | None = typer.Option(
        None,
        help="Unix socket of the admin interface (default: $SHIPYARD_HOME/run/serve-PORT.sock).",
    ),
    admin_port: int | None = typer.Option(
        None, min=1, max=65535, help="Also serve the admin interface on this loopback port."
    ),
    admin_token: str | None = typer.Option(
        None,
        envvar="SHIPYARD_ADMIN_TOKEN",
        help="Bearer token the admin interface requires (default: a new one, in SOCKET.token).",
    ),
    log_format: str = typer.Option("text", help="Log lines as 'text' or 'json'."),
    access_log: bool = typer.Option(False, help="Log every inference request."),
    shutdown_delay: float = typer.Option(
        0.0, min=0.0, help="Seconds between readiness turning false and workers stopping."
    ),
    prediction_log: str | None = typer.Option(
        None,
        help="SQLite file of answered predictions that feedback is joined to, or 'none' "
        "(default: $SHIPYARD_HOME/predictions/DEPLOYMENT.sqlite).",
    ),
    prediction_retention: str = typer.Option(
        "7d", help="How long predictions are kept for feedback (e.g. 7d, 12h)."
    ),
    prediction_max_rows: int = typer.Option(
        1_000_000, min=1, help="Most predictions kept for feedback (the oldest go first)."
    ),
) -> None:
    """Serve model versions; every worker loads them digest-verified and holds them all."""
    from shipyard.serving.bundle import is_bundle
    from shipyard.serving.server import Listen, admin_socket_path, run

    if log_format not in ("text", "json"):
        raise InvalidInputError(f"--log-format: {log_format!r}; choose 'text' or 'json'")
    base = ServeConfig(
        model="",
        versions=(),
        routes={},
        deployment=deployment or "",
        trust=tuple(trust or ()),
        trust_pickle=trust_pickle,
        limits=Limits(max_body_bytes=max_body, timeout_s=timeout),
        batching=BatchOptions(max_batch_size, max_latency_ms, max_queue),
        max_concurrent=max_concurrent,
        threads=threads,
        log_format=log_format,
        access_log=access_log,
    )
    if is_bundle(ref) and (weights or shadow):
        raise InvalidInputError("a bundle holds one version: --weights and --shadow need NAME")
    started = time.monotonic()

    def configure() -> ServeConfig:
        """What to serve: resolved while the workers start (see serving/server.py)."""
        if is_bundle(ref):
            config = _from_bundle(Path(ref), base)
        else:
            config = _from_registry(ref, weights, shadow, base)
        name = deployment or config.model
        logged = _prediction_log(prediction_log, prediction_retention, prediction_max_rows, name)
        return replace(config, deployment=name, predictions=logged)

    socket_path = admin_socket or admin_socket_path(home(), f"serve-{port}")
    token_file = socket_path.with_name(socket_path.name + ".token")
    token_note = f"token in {token_file}" if not admin_token else "token from --admin-token"
    listen = Listen(
        host,
        port,
        workers,
        socket_path,
        admin_token or None,
        token_file,
        admin_port,
        shutdown_delay=shutdown_delay,
    )

    def ready(config: ServeConfig) -> None:
        split = ", ".join(f"v{v} {w}%" for v, w in config.routes["weights"].items())
        console.print(
            f"serving {config.model} ({split}) on http://{host}:{port} with {workers} "
            f"worker{'s' if workers > 1 else ''}, ready in {time.monotonic() - started:.1f} s\n"
            f"admin: {socket_path} ({token_note})",
            soft_wrap=True,
        )
        sys.stdout.flush()  # seen at once even when stdout is a pipe or a log file

    run(configure, listen, ready)
