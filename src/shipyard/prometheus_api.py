"""Asking a Prometheus server: instant queries over its HTTP API (``/api/v1/query``).

With ``monitor.prometheus_url`` the control plane reads rule values and canary
windows from the team's Prometheus instead of scraping the model servers itself,
as Argo Rollouts' Prometheus provider does.
"""

from __future__ import annotations

import http.client
import json
import math
from typing import Any
from urllib.parse import urlencode, urlsplit

from shipyard.errors import ShipyardError
from shipyard.outbound import connect, shown

Vector = list[tuple[dict[str, str], float]]


class PrometheusError(ShipyardError):
    """Prometheus did not answer, or refused the query."""


def query(url: str, expr: str, timeout: float = 10.0) -> Vector:
    """The instant vector ``expr`` evaluates to now: (labels, value) per series (NaN dropped)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PrometheusError(f"prometheus_url {shown(url)!r}: expected http(s)://HOST:PORT")
    conn, _ = connect(url, timeout)
    path = parts.path.rstrip("/") + "/api/v1/query?" + urlencode({"query": expr})
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body: dict[str, Any] = json.loads(response.read() or b"{}")
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise PrometheusError(f"Prometheus at {shown(url)} did not answer: {err}") from None
    finally:
        conn.close()
    if body.get("status") != "success":
        raise PrometheusError(
            f"Prometheus refused the query: {body.get('error', response.status)}",
            hint=f"the query was: {expr}",
        )
    out: Vector = []
    for series in body["data"]["result"]:
        value = float(series["value"][1])
        if not math.isnan(value):
            out.append((series["metric"], value))
    return out


def scalar(url: str, expr: str, timeout: float = 10.0) -> float | None:
    """The value of a query that gives at most one series (None: no data)."""
    vector = query(url, expr, timeout)
    return vector[0][1] if vector else None
