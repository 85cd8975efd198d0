"""A client for a server's admin interface over its unix socket (standard library only)."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError


class AdminError(ShipyardError):
    """The admin interface refused a command; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class AdminClient:
    """Load, route and unload versions of a running server."""

    def __init__(self, socket_path: Path, token: str, timeout: float = 330.0) -> None:
        self.socket_path = socket_path
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        connection = _UnixConnection(self.socket_path, self.timeout)
        try:
            connection.request(
                method,
                f"/admin/v1/{path}",
                body=None if body is None else json.dumps(body),
                headers={"Authorization": f"Bearer {self.token}"},
            )
            response = connection.getresponse()
            data = json.loads(response.read() or b"{}")
        finally:
            connection.close()
        if response.status != 200:
            raise AdminError(data.get("error", f"HTTP {response.status}"), response.status)
        result: dict[str, Any] = data
        return result

    def state(self) -> dict[str, Any]:
        """Versions, routes and each worker's view."""
        return self._call("GET", "state")

    def load(self, version: str | int) -> dict[str, Any]:
        """Load a version beside the others in every worker."""
        return self._call("POST", "versions", {"version": str(version)})

    def route(
        self, weights: dict[str, int], shadow: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """Switch traffic to ``weights`` (and copies to ``shadow``) in every worker."""
        return self._call("PUT", "routes", {"weights": weights, "shadow": shadow or {}})

    def unload(self, version: str | int) -> dict[str, Any]:
        """Drain a version that no longer gets traffic, then free it."""
        return self._call("DELETE", f"versions/{version}")
