"""The client of the control plane's REST API (standard library only).

One keep-alive connection per thread, over HTTP or HTTPS. JSON calls raise the
server's own error (same message, hint and exit code as a local run); blobs go
up and down in 1 MiB chunks, so a large model never sits in memory. A server
that cannot be reached is an ``UnreachableError`` that names its URL: a command
never falls back to a local store when a server is configured.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode, urlsplit

from shipyard.errors import (
    AuthError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RolloutFailed,
    ShipyardError,
    StoreError,
    UnreachableError,
    UntrustedModelError,
)
from shipyard.home import SERVER_ENV
from shipyard.lineage import current_actor

if TYPE_CHECKING:
    from shipyard.client.documents import DeploymentStatus, RolloutView

URL_ENV = SERVER_ENV
CA_ENV = "SHIPYARD_CA_CERT"  # a PEM bundle to trust for an https server (default: the system's)
_CHUNK = 1 << 20


class RemoteError(ShipyardError):
    """An error the server reported; same message, hint and exit code as a local one, and
    of the same kind too (``except NotFoundError`` catches a remote 404), see ``_raise_for``."""

    def __init__(self, message: str, *, hint: str | None, exit_code: int, status: int) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
        self.status = status


_KINDS: dict[int, type[ShipyardError]] = {
    2: InvalidInputError,
    4: NotFoundError,
    5: IntegrityError,
    6: StoreError,
    7: UntrustedModelError,
    8: ConflictError,
    9: RolloutFailed,
    10: AuthError,
}


@functools.cache
def _remote_kind(exit_code: int) -> type[RemoteError]:
    """``RemoteError`` that is also the local error class of its exit code."""
    base = _KINDS.get(exit_code)
    if base is None:
        return RemoteError
    return type(f"Remote{base.__name__}", (RemoteError, base), {})


class ServerClient:
    """Calls ``/api/v1`` of one control plane."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 600.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(
                f"{URL_ENV}={url!r} is not an http(s) URL",
                hint="e.g. SHIPYARD_SERVER=http://shipyard.internal:7700",
            )
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.token = token
        self.timeout = timeout
        self._local = threading.local()

    # -- transport -------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.https:
                context = ssl.create_default_context(cafile=os.environ.get(CA_ENV) or None)
                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"x-shipyard-actor": current_actor(), **(extra or {})}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    def _unreachable(self, err: Exception) -> UnreachableError:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        return UnreachableError(
            f"cannot reach the Shipyard server at {self.url}: {reason}",
            hint=f"check that it runs and that ${URL_ENV} names it; nothing was done "
            "(a configured server is never replaced by a local store)",
        )

    def _send(
        self,
        method: str,
        target: str,
        body: bytes | Iterator[bytes] | None,
        headers: dict[str, str],
    ) -> http.client.HTTPResponse:
        """Send one request; a kept-alive connection the server closed is reopened once."""
        for attempt in (1, 2):
            reused = getattr(self._local, "conn", None) is not None
            conn = self._connection()
            try:
                conn.request(method, target, body=body, headers=headers)
                return conn.getresponse()
            except ssl.SSLError as err:
                self._drop()
                raise self._unreachable(err) from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                self._drop()
                if attempt == 2 or not reused or not isinstance(body, bytes | None):
                    raise self._unreachable(err) from None
            except (OSError, http.client.HTTPException) as err:
                self._drop()
                raise self._unreachable(err) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _raise_for(response: http.client.HTTPResponse, raw: bytes) -> None:
        if response.status < 400:
            return
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        error = data if isinstance(data, dict) else {}
        exit_code = int(error.get("exit_code") or 1)
        raise _remote_kind(exit_code)(
            error.get("error") or f"the server answered HTTP {response.status}",
            hint=error.get("hint"),
            exit_code=exit_code,
            status=response.status,
        )

    # -- JSON calls ------------------------------------------------------------------------

    def call(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        """One JSON request to ``/api/v1/PATH``; a refusal is raised as the server's error."""
        params = {k: v for k, v in (query or {}).items() if v is not None}
        target = f"/api/v1/{path}" + (f"?{urlencode(params)}" if params else "")
        payload = None if body is None else json.dumps(body).encode()
        response = self._send(
            method, target, payload, self._headers({"content-type": "application/json"})
        )
        raw = response.read()
        self._raise_for(response, raw)
        return json.loads(raw) if raw else None

    # -- blobs -----------------------------------------------------------------------------

    def _head(self, digest: str) -> http.client.HTTPResponse:
        response = self._send("HEAD", f"/api/v1/blobs/{quote(digest)}", None, self._headers())
        response.read()
        return response

    def blob_exists(self, digest: str) -> bool:
        """Whether the server holds a blob (asked before sending one)."""
        response = self._head(digest)
        if response.status == 404:
            return False
        self._raise_for(response, b"")
        return True

    def blob_size(self, digest: str) -> int:
        """A stored blob's size; ``RemoteError`` (404) if the server does not hold it."""
        response = self._head(digest)
        if response.status == 404:
            raise NotFoundError(f"artifact {digest} is not stored on {self.url}")
        self._raise_for(response, b"")
        return int(response.getheader("content-length") or 0)

    def upload(self, digest: str, parts: Iterator[bytes], size: int | None) -> Any:
        """Stream bytes to the server (chunked when ``size`` is unknown); it refuses them
        unless they hash to ``digest``, and keeps nothing of a cut-off upload."""
        extra = {"content-type": "application/octet-stream"}
        if size is not None:  # else http.client sends it chunked
            extra["content-length"] = str(size)
        response = self._send("PUT", f"/api/v1/blobs/{quote(digest)}", parts, self._headers(extra))
        raw = response.read()
        self._raise_for(response, raw)
        return json.loads(raw) if raw else None

    def download(self, digest: str) -> Iterator[bytes]:
        """A blob's bytes in chunks, as the server sends them (the caller verifies them)."""
        response = self._send("GET", f"/api/v1/blobs/{quote(digest)}", None, self._headers())
        if response.status >= 400:
            self._raise_for(response, response.read())
        try:
            while chunk := response.read(_CHUNK):
                yield chunk
        except (OSError, http.client.HTTPException) as err:
            self._drop()
            raise self._unreachable(err) from None

    # -- rollouts --------------------------------------------------------------------------

    def deploy(
        self, body: dict[str, Any], exists: bool, watch: Callable[[str], None]
    ) -> dict[str, Any]:
        """Start a rollout (``POST /deployments``) with a project's monitor attached by
        ``watch(deployment)``: before the rollout when the deployment ``exists`` (its
        rules, and the Prometheus its analysis reads, hold from the first step), else as
        soon as the deployment is created. Returns the rollout."""
        if exists:
            watch(body.get("name") or body["model"])
        rollout: dict[str, Any] = self.call("POST", "deployments", body)
        if not exists:
            watch(rollout["deployment"])
        return rollout

    def follow(
        self,
        name: str,
        rollout_id: int,
        on_change: Callable[[DeploymentStatus, RolloutView], None],
        *,
        until_loaded: bool = False,
        timeout: float | None = None,
    ) -> DeploymentStatus:
        """Poll a rollout until it finishes or pauses (``until_loaded``: until its new
        version is loaded), calling ``on_change`` with the status and the rollout at each
        new state, step or analysis; returns the last status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[Any, ...] = ()
        while deadline is None or time.monotonic() < deadline:
            status = cast("DeploymentStatus", self.call("GET", f"deployments/{name}"))
            r = status["rollout"]
            if r is None or r["id"] != rollout_id:
                return status
            now = (r["state"], r["step"], bool(r["analysis"]))
            if now != seen:
                on_change(status, r)
                seen = now
            if not r["active"] or r["state"] == "paused":
                return status
            if until_loaded and r["state"] != "loading":
                return status
            time.sleep(0.1)
        raise ShipyardError(f"rollout {rollout_id} of {name} did not finish in {timeout:.0f} s")
