"""One server worker process: loads its versions, serves HTTP on the shared socket, and
obeys its supervisor.

Started by the supervisor with the listening socket inherited (``--fd``),
often before the version to serve is even resolved: the worker imports its
serving stack, then waits for its configuration, the first line on stdin.
Commands arrive as further JSON lines on stdin and answers leave on the
original stdout, which is then pointed at stderr so
that a model printing to stdout cannot corrupt the channel. When stdin closes
(the supervisor is gone) the worker shuts down gracefully.

    python -m shipyard.serving.worker --fd N
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any

import uvicorn

from shipyard.errors import ShipyardError
from shipyard.flavors import TrustPolicy
from shipyard.serving import logs
from shipyard.serving.app import create_app
from shipyard.serving.config import ServeConfig
from shipyard.serving.deployment import Deployment, Settings
from shipyard.serving.host import Loaded, load_bundle, load_reference
from shipyard.serving.predictions import PredictionLog
from shipyard.serving.routing import route_table


def loader(config: ServeConfig) -> Any:
    """How this worker loads a version: from the registry, or the one bundle."""
    trust = TrustPolicy(types=config.trust, pickle=config.trust_pickle)
    if config.bundle is not None:
        bundle = Path(config.bundle)
        return lambda version: load_bundle(bundle, trust)

    def from_registry(version: str) -> Loaded:
        assert config.home is not None
        return load_reference(f"{config.model}:{version}", Path(config.home), trust)

    return from_registry


class Control:
    """The supervisor's commands, each answered with the worker's state or an error."""

    def __init__(self, deployment: Deployment, server: uvicorn.Server, reply_fd: int) -> None:
        self.deployment = deployment
        self.server = server
        self.reply_fd = reply_fd
        self.tasks: set[asyncio.Task[None]] = set()

    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0)
        )
        try:
            while line := await reader.readline():
                task = loop.create_task(self.handle(json.loads(line)))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        except (ValueError, OSError):  # a broken channel: the supervisor cannot reach us
            pass
        self.server.should_exit = True  # the supervisor is gone

    async def handle(self, command: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": command["id"], "pid": os.getpid()}
        try:
            await self.run(command)
            reply.update(ok=True, state=self.deployment.state())
        except ShipyardError as err:
            reply.update(ok=False, error=err.message, status=400)
        except Exception as err:  # a model library failing to load: report, keep serving
            reply.update(ok=False, error=f"{type(err).__name__}: {err}", status=500)
        os.write(self.reply_fd, json.dumps(reply).encode() + b"\n")

    async def run(self, command: dict[str, Any]) -> None:
        deployment, op = self.deployment, command["op"]
        if op == "load":
            await deployment.load(command["version"])
        elif op == "unload":
            await deployment.unload(command["version"])
        elif op == "routes":
            deployment.set_routes(route_table(command["routes"]))
        elif op == "drain":
            deployment.draining = True
        elif op != "state":
            raise ShipyardError(f"unknown command {op!r}")


def prediction_log(config: ServeConfig) -> PredictionLog | None:
    """The deployment's prediction log, shared with the other workers (None: not kept)."""
    options = config.predictions
    if options.path is None:
        return None
    try:
        return PredictionLog(
            Path(options.path), retention_s=options.retention_s, max_rows=options.max_rows
        )
    except (OSError, sqlite3.Error) as err:
        raise ShipyardError(
            f"cannot open the prediction log {options.path}: {err}",
            hint="choose another --prediction-log, or --prediction-log none",
        ) from None


async def serve(config: ServeConfig, sock: socket.socket, reply_fd: int) -> None:
    settings = Settings(
        deployment=config.deployment,
        threads=config.threads,
        max_concurrent=config.max_concurrent,
        batching=config.batching,
    )
    deployment = Deployment(config.model, settings, loader(config))
    try:
        predictions = prediction_log(config)
        for version in config.versions:
            await deployment.load(version)
        deployment.set_routes(route_table(config.routes))
    except Exception as err:  # said once, by the supervisor, without a traceback
        if isinstance(err, ShipyardError):
            known = err
        else:
            known = ShipyardError(f"cannot load the model: {type(err).__name__}: {err}")
        failure = {
            "event": "failed",
            "kind": type(known).__name__,
            "error": known.message,
            "hint": known.hint,
        }
        os.write(reply_fd, json.dumps(failure).encode() + b"\n")
        raise SystemExit(1) from None
    app = create_app(
        deployment, config.limits, access_log=config.access_log, predictions=predictions
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http="httptools",
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(config.limits.timeout_s) + 5,
            proxy_headers=False,  # the client address is not used; saves a layer per request
            server_header=False,
        )
    )
    control = Control(deployment, server, reply_fd)
    listener = asyncio.get_running_loop().create_task(control.listen())
    os.write(reply_fd, json.dumps({"event": "serving", "pid": os.getpid()}).encode() + b"\n")
    await server.serve(sockets=[sock])
    listener.cancel()


def first_line(fd: int) -> bytes:
    """The first line on ``fd``, read a byte at a time so that nothing after it is taken
    from the command channel (b"" when it closes first)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            return b""
        line += byte
    return bytes(line)


def main() -> None:
    fd = int(sys.argv[sys.argv.index("--fd") + 1])
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # print() in model code goes to the log, not into the control channel
    line = first_line(0)
    if not line:
        raise SystemExit(0)  # the supervisor stopped before it configured this worker
    config = ServeConfig.from_json(line.decode())
    logs.configure(config.log_format)
    sock = socket.socket(fileno=fd)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop

            uvloop.run(serve(config, sock, reply_fd))
        except ImportError:
            asyncio.run(serve(config, sock, reply_fd))


if __name__ == "__main__":
    main()
