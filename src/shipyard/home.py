"""Where Shipyard keeps its state: ``SHIPYARD_HOME`` (default ``~/.shipyard``)."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "SHIPYARD_HOME"


def write_private(path: Path, data: bytes) -> None:
    """Write a file only this user can read, in one step: a reader sees all of it or none
    (tokens and the server record, which other processes poll while they are written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    partial.replace(path)


def resolve_home(override: str | Path | None = None) -> Path:
    """Return the state directory: the override, else ``$SHIPYARD_HOME``, else ``~/.shipyard``."""
    if override is not None:
        return Path(override).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / ".shipyard").resolve()
