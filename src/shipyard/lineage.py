"""Capturing where a model version came from: the Python environment and who is acting."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
from functools import cache
from typing import Any

ACTOR_ENV = "SHIPYARD_ACTOR"


@cache
def pinned_requirements() -> str:
    """The running interpreter's installed distributions as sorted ``name==version`` lines."""
    from importlib import metadata  # 15 ms of imports, paid only when registering

    pins = {pin for dist in metadata.distributions() if (pin := _pin(dist))}
    return "".join(f"{pin}\n" for pin in sorted(pins, key=str.lower))


def _pin(dist: Any) -> str | None:
    """``Name==Version`` from a distribution's metadata header.

    The two fields head the file; reading them directly instead of through
    ``dist.metadata`` (an e-mail parser over the whole file, descriptions included)
    takes the environment's fingerprint from about 200 ms to a few.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields: dict[str, str] = {}
    for line in text.partition("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version"):
            fields.setdefault(key, value.strip())
    if not fields.get("Name") or not fields.get("Version"):
        return None
    return f"{fields['Name']}=={fields['Version']}"


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
