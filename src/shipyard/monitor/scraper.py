"""The control plane's scraper: each deployment's ``/metrics`` on an interval, kept in a
bounded window in memory, read by ``shipyard metrics`` and by the alert evaluator,
which it calls after each scrape.

Memory is bounded by construction: one snapshot per deployment per interval, for at
most ``keep`` seconds (an hour by default), then dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.expressions.alert_rules import AlertRule
from shipyard.monitor import drift, snapshot
from shipyard.monitor.evaluate import Series, metric_value
from shipyard.monitor.snapshot import Snapshot
from shipyard.store import Stores
from shipyard.targets.contract import TargetError, Targets

log = logging.getLogger("shipyard.scraper")
SHOWN = (
    "requests",
    "error_rate",
    "p50_latency",
    "p95_latency",
    "p99_latency",
    "batch_size",
    "drift_psi",
    "live_accuracy",
    "live_mae",
)
WORST = 5  # features shown by drift
POINTS = 20  # sparkline points over a window


class Scraper:
    """Scrapes every deployment of a home until stopped."""

    def __init__(
        self, stores: Stores, target: Targets, interval: float = 5.0, keep: float = 3600.0
    ) -> None:
        self.stores = stores
        self.target = target
        self.interval = interval
        self.keep = keep
        self.series: dict[str, Series] = {}
        # deployment → (its first failed scrape in a row, why the last one failed)
        self.failing: dict[str, tuple[float, str]] = {}
        self.listeners: list[Callable[[], None]] = []  # called after each round of scrapes
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scraper", daemon=True)

    def start(self) -> None:
        """Begin scraping."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the scrape under way."""
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.scrape_all()
            except Exception:  # a bug here must not stop scraping (and so alerting)
                log.exception("scrape round failed")
            for listener in self.listeners:
                try:
                    listener()
                except Exception:  # an evaluator bug must not stop the scraping
                    log.exception("after-scrape listener failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def scrape_all(self) -> None:
        """One scrape of every deployment; a server that does not answer is noted, not fatal."""
        try:
            deployments = self.stores.deploy.list_deployments()
        except ShipyardError as err:
            log.error("cannot read deployments: %s", err.message)
            return
        # a cluster's pods are scraped by the team's Prometheus (monitor.prometheus_url)
        deployments = [d for d in deployments if d.target == "local"]
        names = {d.name for d in deployments}
        with self._lock:
            for gone in set(self.series) - names:
                del self.series[gone]
            for gone in set(self.failing) - names:
                del self.failing[gone]
        for d in deployments:
            try:
                # as Prometheus's scrape_timeout: a hung server cannot stall the round
                page = self.target.metrics(d, timeout=min(10.0, max(1.0, self.interval)))
                taken = snapshot.snapshot(page)
            except (TargetError, ValueError) as err:  # down, or a page that is not metrics
                message = err.message if isinstance(err, TargetError) else f"bad page: {err}"
                with self._lock:
                    since = self.failing.get(d.name, (time.time(), ""))[0]
                    self.failing[d.name] = (since, message)
                continue
            with self._lock:
                self.failing.pop(d.name, None)
                series = self.series.setdefault(d.name, Series(keep=self.keep))
                series.add(time.time(), taken)

    def keep_at_least(self, seconds: float) -> None:
        """Keep history for windows this long (the longest rule's)."""
        with self._lock:
            if seconds > self.keep:
                self.keep = seconds
                for series in self.series.values():
                    series.keep = seconds

    def values(self, name: str, rules: tuple[AlertRule, ...], at: float) -> dict[str, float | None]:
        """Each rule's metric for a deployment up to ``at`` (see ``Series.values``)."""
        with self._lock:
            series = self.series.get(name)
            return {} if series is None else series.values(rules, at)

    def summary(self, name: str, window: float, version: str | None = None) -> dict[str, Any]:
        """The shown metrics over ``window`` now, and ``POINTS`` values across it; of one
        ``version`` only, or of every version together."""
        now = time.time()
        with self._lock:
            series = self.series.get(name)
            scrapes = 0 if series is None else len(series.points)

            def span(seconds: float, at: float) -> tuple[Snapshot, float] | None:
                found = series.span(seconds, at) if series else None
                if found is None or version is None:
                    return found
                return {v: e for v, e in found[0].items() if v == version}, found[1]

            found = span(window, now)
            values = _values(found)
            if values["error_rate"] is None and values["requests"]:
                values["error_rate"] = 0.0  # requests, none of them failed
            step = window / POINTS
            width = max(step, 2 * self.interval)  # a point needs two scrapes behind it
            points = [_values(span(width, now - window + step * (i + 1))) for i in range(POINTS)]
            history = {m: [p[m] for p in points] for m in SHOWN}
        return {
            "deployment": name,
            "version": version,
            "window": window,
            "interval": self.interval,
            "scrapes": scrapes,
            "values": values,
            "history": history,
            "drift": _drift(found[0] if found else {}),
            "unavailable": self.failing.get(name, (0.0, None))[1],
        }


def _values(found: tuple[Snapshot, float] | None) -> dict[str, float | None]:
    """Every shown metric of one window (its changes worked out once)."""
    if found is None:
        return dict.fromkeys(SHOWN)
    return {m: metric_value(m, *found) for m in SHOWN}


def _drift(span: Snapshot) -> dict[str, Any]:
    """Per version, the features that moved most: PSI and KS over the window."""
    versions: list[dict[str, Any]] = []
    for version, entry in sorted(span.items()):
        psi, ks = drift.psi(entry), drift.ks(entry)
        worst = sorted(psi, key=lambda f: -psi[f])[:WORST]
        if worst:
            inputs: dict[str, dict[str, float]] = entry["inputs"]
            rows = int(sum(inputs[worst[0]].values()))
            features = [{"feature": f, "psi": psi[f], "ks": ks.get(f)} for f in worst]
            versions.append({"version": version, "rows": rows, "features": features})
    features = sorted(
        ({**f, "version": v["version"]} for v in versions for f in v["features"]),
        key=lambda f: -f["psi"],
    )[:WORST]
    return {"versions": versions, "features": features}
