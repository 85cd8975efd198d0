"""Running a server: supervisor, workers and the admin interface, until a signal stops them.

``shipyard serve`` calls ``run`` with the way to build its ``ServeConfig``. The
process that runs this module is the supervisor: it holds the port and the
admin socket and serves no model traffic itself, so it imports no model library.
It binds the port and starts the workers first, then builds the configuration
(resolving the version in the registry) while they import their serving stack:
the two overlap, which is most of what a server adds to a model's own load time.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.home import write_private
from shipyard.serving.config import ServeConfig
from shipyard.serving.supervisor import Supervisor, bind, fresh_metrics_dir, start_worker

UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


def admin_socket_path(home: Path, stem: str) -> Path:
    """Where a server's admin socket goes: ``HOME/run/STEM.sock``, or a short temp path
    (distinct per home) when that would be too long for a unix socket."""
    path = home / "run" / f"{stem}.sock"
    if len(str(path)) > UNIX_PATH_MAX:
        tag = hashlib.sha256(str(home).encode()).hexdigest()[:12]
        private = Path(tempfile.gettempdir()) / f"shipyard-{os.getuid()}"
        private.mkdir(mode=0o700, exist_ok=True)
        info = private.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise ShipyardError(
                f"{private} is not a private directory of this user; refusing to put an "
                "admin socket and its token there",
                hint=f"remove it, or use a shorter SHIPYARD_HOME (sockets need paths under "
                f"{UNIX_PATH_MAX} characters)",
            )
        path = private / f"{tag}-{stem}.sock"
    return path


@dataclass(frozen=True, slots=True)
class Listen:
    """Where the server and its admin interface listen."""

    host: str
    port: int
    workers: int
    admin_socket: Path
    admin_token: str | None  # None: a new one, written to token_file once the port is ours
    token_file: Path
    admin_port: int | None = None
    shutdown_delay: float = 0.0


def new_token(path: Path) -> str:
    """A random admin token, written where only this user can read it."""
    token = secrets.token_urlsafe(24)
    write_private(path, (token + "\n").encode())
    return token


async def _run(
    configure: Callable[[], ServeConfig],
    listen: Listen,
    on_ready: Callable[[ServeConfig], None],
) -> None:
    sock = bind(listen.host, listen.port)
    metrics_dir = listen.admin_socket.with_name(listen.admin_socket.name + ".metrics")
    fresh_metrics_dir(metrics_dir)
    started = [await start_worker(sock, listen.workers, metrics_dir) for _ in range(listen.workers)]
    try:
        config = configure()  # while the workers import: nothing else needs the loop yet
    except BaseException:
        for process in started:
            process.kill()
            await process.wait()
        sock.close()
        raise
    supervisor = Supervisor(config, sock, listen.workers, metrics_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    admin_sockets: list[socket.socket] = []
    try:
        await supervisor.spawn(started)
        starting = asyncio.ensure_future(supervisor.started_all())
        stopped = asyncio.ensure_future(stop.wait())
        from shipyard.serving.admin import admin_server
        from shipyard.serving.admin import admin_sockets as open_admin_sockets

        # the admin web stack is imported while the workers start, off the cold-start path
        token = listen.admin_token or new_token(listen.token_file)
        admin = admin_server(supervisor, token)
        admin_sockets = open_admin_sockets(listen.admin_socket, listen.admin_port)
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a worker that failed to start: its error
            serving = loop.create_task(admin.serve(sockets=admin_sockets))
            on_ready(config)
            await stopped
            await supervisor.drain()  # readiness false first, even with a command under way
            admin.should_exit = True
            await serving
        else:
            starting.cancel()
    finally:
        await supervisor.stop(listen.shutdown_delay)
        supervisor.close()
        for sock in admin_sockets:
            sock.close()
        listen.admin_socket.unlink(missing_ok=True)


def run(
    configure: Callable[[], ServeConfig],
    listen: Listen,
    on_ready: Callable[[ServeConfig], None],
) -> None:
    """Serve what ``configure`` returns until SIGTERM or Ctrl-C; ``on_ready`` runs once
    every worker answers."""
    asyncio.run(_run(configure, listen, on_ready))
