"""Where a home's control plane says how to reach it, and the lock that keeps it one.

``HOME/run/server.json`` (mode 0600) records the running server's URL, pid, start
time and token; ``HOME/run/server.lock`` is held for the server's lifetime.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard import jsonio
from shipyard.errors import ShipyardError

DEFAULT_PORT = 7700
PORT_ENV = "SHIPYARD_SERVER_PORT"
TOKEN_ENV = "SHIPYARD_SERVER_TOKEN"


def state_file(home: Path) -> Path:
    """Where a running server says how to reach it."""
    return home / "run" / "server.json"


def read_state(home: Path) -> dict[str, Any] | None:
    """The running server's record, if one was written and that very process still runs
    (its pid and start time match: a reused pid does not)."""
    from shipyard.process_info import boot_id

    try:
        data: dict[str, Any] = jsonio.loads(state_file(home).read_bytes())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    started = boot_id(pid)
    return data if started is not None and started == data.get("boot_id") else None


def hold_lock(home: Path) -> int:
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


def lock_held(home: Path) -> bool:
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """How ``shipyard server`` was asked to run."""

    host: str = "127.0.0.1"
    port: int = 7700
    token: str | None = None  # the bootstrap admin token; generated when not given
    store: str | None = None  # None: HOME/registry.db
    artifacts: str | None = None  # None: HOME/artifacts
    tls_cert: Path | None = None
    tls_key: Path | None = None
    scrape_interval: float = 5.0
