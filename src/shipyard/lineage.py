"""Capturing where a model version came from: the Python environment and who is acting."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
from functools import cache

ACTOR_ENV = "SHIPYARD_ACTOR"


@cache
def pinned_requirements() -> str:
    """The running interpreter's installed distributions as sorted ``name==version`` lines."""
    from importlib import metadata  # 15 ms of imports, paid only when registering

    pins = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    return "".join(f"{pin}\n" for pin in sorted(pins, key=str.lower))


def python_version() -> str:
    """``major.minor.micro`` of the running interpreter."""
    return platform.python_version()


def platform_tag() -> str:
    """OS and machine, e.g. ``linux-x86_64``."""
    return f"{sys.platform}-{platform.machine()}"


def current_actor() -> str:
    """Who is acting: ``$SHIPYARD_ACTOR`` if set (CI sets it), else ``user@host``."""
    actor = os.environ.get(ACTOR_ENV)
    if actor:
        return actor
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
