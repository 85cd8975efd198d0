"""Where Shipyard keeps its state: ``SHIPYARD_HOME`` (default ``~/.shipyard``)."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "SHIPYARD_HOME"


def resolve_home(override: str | Path | None = None) -> Path:
    """Return the state directory: the override, else ``$SHIPYARD_HOME``, else ``~/.shipyard``."""
    if override is not None:
        return Path(override).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / ".shipyard").resolve()
