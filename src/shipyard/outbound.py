"""Calls the control plane makes to URLs users give it (webhooks, a Prometheus): the
connection for a URL, and the URL in a form safe to show in logs, events and errors."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


def connect(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection to the URL's host (TLS for https) and the path (with query) to ask."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return kind(parts.netloc, timeout=timeout), path


def shown(url: str) -> str:
    """A URL as it may be shown: webhooks carry secrets in the path, the query or the
    user part, so only the scheme, host and port are."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"
