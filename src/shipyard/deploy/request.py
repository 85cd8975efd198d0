"""What a deploy asks for, and the checks made before anything is written: the
deployment's name and its host (the target checks the rest: ``targets/``)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Any

from shipyard.deploy.plan import AnalysisPolicy
from shipyard.errors import InvalidInputError, ShipyardError

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


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
    port: int | None = None  # None: the target's choice (local: the next free one from 8000)
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
