"""Running a server: supervisor, workers and the admin interface, until a signal stops them.

``shipyard serve`` builds a ``ServeConfig`` and calls ``run``. The process that
runs this module is the supervisor: it holds the port and the admin socket and
serves no model traffic itself, so it imports no model library.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from shipyard.serving.admin import create_admin_app
from shipyard.serving.config import ServeConfig
from shipyard.serving.supervisor import Supervisor, bind


@dataclass(frozen=True, slots=True)
class Listen:
    """Where the server and its admin interface listen."""

    host: str
    port: int
    workers: int
    admin_socket: Path
    admin_token: str
    admin_port: int | None = None
    shutdown_delay: float = 0.0


class _AdminServer(uvicorn.Server):
    """uvicorn for the admin app inside the supervisor's loop: signals are the supervisor's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _admin_sockets(listen: Listen) -> list[socket.socket]:
    """The admin interface's sockets: a unix socket only this user can open, and loopback."""
    path = listen.admin_socket
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(path))
    path.chmod(0o600)
    sockets = [unix]
    if listen.admin_port is not None:
        sockets.append(bind("127.0.0.1", listen.admin_port))
    for sock in sockets:
        sock.listen(64)
    return sockets


async def _run(config: ServeConfig, listen: Listen, on_ready: Callable[[], None]) -> None:
    sock = bind(listen.host, listen.port)
    supervisor = Supervisor(config, sock, listen.workers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    admin = _AdminServer(
        uvicorn.Config(
            create_admin_app(supervisor, listen.admin_token), log_config=None, lifespan="off"
        )
    )
    admin_sockets = _admin_sockets(listen)
    try:
        starting = asyncio.ensure_future(supervisor.start())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a worker that failed to start: its error
            serving = loop.create_task(admin.serve(sockets=admin_sockets))
            on_ready()
            await stopped
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


def run(config: ServeConfig, listen: Listen, on_ready: Callable[[], None]) -> None:
    """Serve until SIGTERM or Ctrl-C; ``on_ready`` runs once every worker answers."""
    asyncio.run(_run(config, listen, on_ready))
