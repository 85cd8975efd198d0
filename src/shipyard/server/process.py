"""``shipyard server``: the control plane process — REST API, controller, local target.

It records where it listens in ``HOME/run/server.json`` (mode 0600) so the CLI
finds the server of its own home. Stopping it stops only the control plane:
deployments keep serving, and the next server adopts them.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard import jsonio
from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.home import write_private

DEFAULT_PORT = 7700
PORT_ENV = "SHIPYARD_SERVER_PORT"
TOKEN_ENV = "SHIPYARD_SERVER_TOKEN"


def state_file(home: Path) -> Path:
    """Where a running server says how to reach it."""
    return home / "run" / "server.json"


def read_state(home: Path) -> dict[str, Any] | None:
    """The running server's record, if one was written and that very process still runs
    (its pid and start time match: a reused pid does not)."""
    from shipyard.deploy.process import boot_id

    try:
        data: dict[str, Any] = jsonio.loads(state_file(home).read_bytes())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    started = boot_id(pid)
    return data if started is not None and started == data.get("boot_id") else None


def _hold_lock(home: Path) -> int:
    """An exclusive lock on ``HOME/run/server.lock`` for this process's lifetime: one
    control plane per home, however many start at once."""
    path = home / "run" / "server.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        running = read_state(home)
        where = f" (pid {running['pid']}, {running['url']})" if running else ""
        raise ShipyardError(f"a shipyard server for {home} already runs{where}") from None
    return fd


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    home: Path,
    host: str,
    port: int,
    token: str | None,
    on_ready: Callable[[str], None],
    scrape_interval: float = 5.0,
) -> None:
    """Run the control plane until SIGTERM or Ctrl-C."""
    if not _loopback(host) and not token:
        raise InvalidInputError(
            f"refusing to listen on {host} without an auth token: anyone who can reach it "
            "could deploy and roll back",
            hint=f"set ${TOKEN_ENV} (or --token), or listen on 127.0.0.1",
        )
    lock = _hold_lock(home)
    token = token or secrets.token_urlsafe(24)  # always one: any local process could call
    import uvicorn

    from shipyard.deploy.controller import Controller
    from shipyard.deploy.engine import CONTROLLER, Engine
    from shipyard.deploy.local import LocalTarget
    from shipyard.deploy.process import boot_id
    from shipyard.deploy.service import DeployService
    from shipyard.deploy.target import Targets
    from shipyard.k8s.target import KubernetesTarget
    from shipyard.monitor.actions import Actions
    from shipyard.monitor.alerting import Alerting
    from shipyard.monitor.scraper import Scraper
    from shipyard.monitor.service import MonitorService
    from shipyard.server.app import create_app
    from shipyard.serving.supervisor import bind
    from shipyard.store import open_stores

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sock = bind(host, port)
    stores = open_stores(home)
    engine = Engine(
        stores,
        Targets(
            {
                "local": lambda: LocalTarget(stores, CONTROLLER),
                "kubernetes": lambda: KubernetesTarget(stores, CONTROLLER),
            }
        ),
    )
    controller = Controller(engine)
    scraper = Scraper(stores, engine.target, interval=scrape_interval)
    service = DeployService(stores, engine)
    alerting = Alerting(stores, scraper, Actions(stores, service))
    monitor = MonitorService(stores, alerting)
    app = create_app(service, controller, scraper, monitor, token, str(home))
    url = f"http://{host}:{sock.getsockname()[1]}"
    path = state_file(home)
    me = os.getpid()
    state = {"url": url, "pid": me, "boot_id": boot_id(me), "home": str(home), "token": token}
    write_private(path, jsonio.dumps(state))
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    controller.start()
    alerting.start()
    scraper.start()
    on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        scraper.stop()
        alerting.stop()
        controller.stop()
        if (read_state(home) or {}).get("pid") == os.getpid():
            path.unlink(missing_ok=True)
        stores.close()
        os.close(lock)


def _lock_held(home: Path) -> bool:
    """Whether a server holds this home's lock (it may still be starting)."""
    try:
        fd = os.open(home / "run" / "server.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def stop_server(home: Path, timeout: float = 30.0) -> int | None:
    """SIGTERM the home's running server and wait for it; its pid, or None if none ran."""
    import signal

    state = read_state(home)
    if state is None:
        return None
    from shipyard.deploy.process import boot_id

    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if boot_id(pid) != state["boot_id"]:  # gone (an unreaped zombie counts as gone)
            return pid
        time.sleep(0.05)
    raise ShipyardError(
        f"the server (pid {pid}) is still stopping after {timeout:.0f} s",
        hint="it finishes the reconcile passes under way first; check again shortly",
    )


def start_detached(home: Path, host: str, port: int, token: str | None) -> dict[str, Any]:
    """Start ``shipyard server`` in the background; returns its record once it answers."""
    log = home / "logs" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    if token:
        env[TOKEN_ENV] = token
    command = [sys.executable, "-m", "shipyard", "server", "--host", host, "--port", str(port)]
    with log.open("ab") as out:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    from shipyard.server.client import ServerClient

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None and not _lock_held(home):
            from shipyard.deploy.process import tail

            raise ShipyardError(
                f"the shipyard server did not start (exit code {child.returncode})",
                hint="its log says:\n    " + "\n    ".join(tail(log, 6)),
            )
        state = read_state(home)  # ours, or one another command started at the same moment
        if state is not None:
            try:
                ServerClient(state["url"], state.get("token")).call("GET", "info")
                state["log"] = str(log)
                return state
            except OSError:
                pass
        time.sleep(0.05)
    raise ShipyardError(f"the shipyard server did not answer in 60 s; see {log}")
