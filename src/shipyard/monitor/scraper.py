"""The control plane's scraper: each deployment's ``/metrics`` on an interval, kept in a
bounded window in memory, read by ``shipyard metrics`` (and by the evaluator next).

Memory is bounded by construction: one snapshot per deployment per interval, for at
most ``keep`` seconds (an hour by default), then dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from shipyard.deploy.local import LocalTarget, TargetError
from shipyard.errors import ShipyardError
from shipyard.monitor.evaluate import Series
from shipyard.monitor.snapshot import snapshot
from shipyard.store import Stores

log = logging.getLogger("shipyard.scraper")
SHOWN = ("requests", "error_rate", "p50_latency", "p95_latency", "p99_latency")
POINTS = 20  # sparkline points over a window


class Scraper:
    """Scrapes every deployment of a home until stopped."""

    def __init__(
        self, stores: Stores, target: LocalTarget, interval: float = 5.0, keep: float = 3600.0
    ) -> None:
        self.stores = stores
        self.target = target
        self.interval = interval
        self.keep = keep
        self.series: dict[str, Series] = {}
        self.errors: dict[str, str] = {}
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
            self.scrape_all()
            self._stop.wait(self.interval)

    def scrape_all(self) -> None:
        """One scrape of every deployment; a server that does not answer is noted, not fatal."""
        try:
            deployments = self.stores.deploy.list_deployments()
        except ShipyardError as err:
            log.error("cannot read deployments: %s", err.message)
            return
        names = {d.name for d in deployments}
        with self._lock:
            for gone in set(self.series) - names:
                del self.series[gone]
        for d in deployments:
            try:
                page = self.target.metrics(d)
            except TargetError as err:
                self.errors[d.name] = err.message
                continue
            self.errors.pop(d.name, None)
            with self._lock:
                series = self.series.setdefault(d.name, Series(keep=self.keep))
                series.add(time.time(), snapshot(page))

    def summary(self, name: str, window: float) -> dict[str, Any]:
        """The shown metrics over ``window`` now, and ``POINTS`` values across it."""
        now = time.time()
        with self._lock:
            series = self.series.get(name)
            scrapes = 0 if series is None else len(series.points)
            values = {m: series.value(m, window, now) if series else None for m in SHOWN}
            if values["error_rate"] is None and values["requests"]:
                values["error_rate"] = 0.0  # requests, none of them failed
            span = window / POINTS
            history = {
                m: [
                    series.value(m, span, now - window + span * (i + 1)) if series else None
                    for i in range(POINTS)
                ]
                for m in SHOWN
            }
        return {
            "deployment": name,
            "window": window,
            "interval": self.interval,
            "scrapes": scrapes,
            "values": values,
            "history": history,
            "unavailable": self.errors.get(name),
        }
