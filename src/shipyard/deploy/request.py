"""What a deploy asks for, and the checks made before anything is written: the
deployment's name, its host and port, the serving options that restart a server."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Any

from shipyard.deploy.plan import AnalysisPolicy
from shipyard.errors import InvalidInputError, ShipyardError

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
GATES_TAG = "shipyard.gates"  # "passed" or "failed", set by validation
FIRST_PORT = 8000


class RefusedVersion(ShipyardError):
    """The version failed its quality gates; ``--force`` deploys it anyway."""

    exit_code = 3


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """What ``shipyard deploy`` (or ``POST /api/v1/deployments``) asks for."""

    model: str
    version: int | str  # a number, or an alias resolved when the rollout starts
    name: str | None = None
    strategy: str = "rolling"
    steps: tuple[int, ...] | None = None
    interval: float | None = None
    shadow_percent: int = 100
    analysis: AnalysisPolicy = field(default_factory=AnalysisPolicy)
    on_resume: str = "continue"
    port: int | None = None  # None: a new deployment takes the next free port from 8000
    # None: a new deployment's default, an existing deployment's own value
    host: str | None = None
    replicas: int | None = None
    alias: str | None = None
    rollback_window: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    target: str | None = None  # None: a new deployment's "local", an existing one's own
    force: bool = False
    reason: str = ""


def check_deployment_name(name: str) -> str:
    """A deployment name doubles as a file name and a URL part: no path characters."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"invalid deployment name {name!r}",
            hint="use 1-63 lowercase letters, digits or '-', starting and ending with a letter "
            "or digit (no '/', '.', or spaces: it names files and URLs)",
        )
    return name


def server_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options that shape the server process (smoke inputs do not)."""
    return {k: v for k, v in options.items() if k not in ("verify_inputs", "kubernetes")}


# Replicas a target takes: a local server's worker processes, a cluster's pods.
REPLICAS = {"local": (64, "worker processes"), "kubernetes": (1000, "pods")}


def check_replicas(replicas: int, target: str) -> int:
    """A replica count the target can run, or a clear error."""
    most, what = REPLICAS[target]
    if not 1 <= replicas <= most:
        raise InvalidInputError(f"--replicas {replicas}: choose 1 to {most} {what}")
    return replicas


def check_host(host: str) -> str:
    """An address this machine can listen on, or a clear error."""
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise InvalidInputError(
            f"--host {host!r} is not an address this machine can listen on: {err}",
            hint="use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
        ) from None
    return host


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
