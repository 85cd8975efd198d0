"""The controller loop: every deployment reconciled on an interval, and at once when asked.

Level-triggered: each pass reads the desired state from the store and makes the
server match it, so a missed wake-up, a crash or a restart only delays
convergence. Passes run in a small thread pool, at most one per deployment at a
time; a slow model load in one deployment never holds up another.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from shipyard.deploy.engine import Engine
from shipyard.errors import ShipyardError

log = logging.getLogger("shipyard.controller")
INTERVAL = 0.25  # seconds between passes; rollouts step on this clock


class Controller:
    """Runs ``Engine.tick`` for every deployment until stopped."""

    def __init__(self, engine: Engine, interval: float = INTERVAL) -> None:
        self.engine = engine
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="reconcile")
        self._running: dict[str, Future[None]] = {}
        self._errors: dict[str, str] = {}
        self._thread = threading.Thread(target=self._loop, name="controller", daemon=True)

    def start(self) -> None:
        """Begin reconciling (the first pass adopts running servers and resumes rollouts)."""
        self._thread.start()

    def wake(self) -> None:
        """Reconcile now rather than at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the passes under way and stop; servers keep running."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                names = [d.name for d in self.engine.stores.deploy.list_deployments()]
            except ShipyardError as err:
                log.error("cannot read deployments: %s", err.message)
                names = []
            for gone in set(self._running) - set(names):  # deleted: forget its state
                self._running.pop(gone, None)
                self._errors.pop(gone, None)
            for name in names:
                running = self._running.get(name)
                if running is None or running.done():
                    self._running[name] = self._pool.submit(self._pass, name)
            self._wake.wait(self.interval)
            self._wake.clear()

    def _pass(self, name: str) -> None:
        try:
            self.engine.tick(name)
        except ShipyardError as err:
            if self._errors.get(name) != err.message:  # each new problem once, not every pass
                log.warning("%s: %s", name, err.message)
            self._errors[name] = err.message
        except Exception:
            log.exception("%s: reconcile failed", name)
        else:
            if name in self._errors:
                log.info("%s: reconciled again", name)
                del self._errors[name]

    def problems(self) -> dict[str, str]:
        """The last error of each deployment that is not converging."""
        return dict(self._errors)
