"""Where Shipyard keeps its state: ``SHIPYARD_HOME`` (default ``~/.shipyard``), and the
stores a process works on — a team server's, named by ``$SHIPYARD_SERVER``, or the
home's own (or the database and artifact store ``$SHIPYARD_STORE`` and
``$SHIPYARD_ARTIFACTS`` name, as a team server gives its model servers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.store import Stores

HOME_ENV = "SHIPYARD_HOME"
SERVER_ENV = "SHIPYARD_SERVER"  # the team server every command talks to
STORE_ENV = "SHIPYARD_STORE"
ARTIFACTS_ENV = "SHIPYARD_ARTIFACTS"
CLIENT_TOKEN_ENV = "SHIPYARD_TOKEN"  # a client's token for the team server


def configured_server() -> tuple[str, str | None] | None:
    """The team server named by ``$SHIPYARD_SERVER`` and the token for it, if one is set."""
    url = os.environ.get(SERVER_ENV, "").strip()
    if not url:
        return None
    from shipyard.client.state import TOKEN_ENV

    return url.rstrip("/"), os.environ.get(CLIENT_TOKEN_ENV) or os.environ.get(TOKEN_ENV)


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


def stores_for(home: Path) -> Stores:
    """The stores a command works on: the team server's when ``$SHIPYARD_SERVER`` is set
    (never a local store then), else the ones ``$SHIPYARD_STORE`` and
    ``$SHIPYARD_ARTIFACTS`` name, else the home's own."""
    team = configured_server()
    if team is None:
        from shipyard.store import open_stores

        return open_stores(
            home,
            metadata=os.environ.get(STORE_ENV) or None,
            artifacts=os.environ.get(ARTIFACTS_ENV) or None,
        )
    from shipyard.client.remote_stores import remote_stores
    from shipyard.client.rest import ServerClient  # the HTTP client: only for a server

    return remote_stores(home, ServerClient(*team))
