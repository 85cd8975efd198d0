"""What a firing alert does besides telling people: roll the deployment back, or
start the project's pipeline to train again.

Each action runs once per alert episode (the evaluator calls this on the move to
firing only), waits out the monitor's cool-down after it last ran on that
deployment, and never loops: once an alert has rolled a deployment back, no alert
rolls it back again until a person deploys another version — a rollback never
triggers a rollback of the rollback. Everything it does or declines is an
``alert.*`` event, with the alert named as the reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from shipyard.deploy.service import DeployService
from shipyard.errors import ShipyardError
from shipyard.home import HOME_ENV
from shipyard.monitor.notify import Notice
from shipyard.spec.monitor_config import MonitorConfig
from shipyard.store import Stores

log = logging.getLogger("shipyard.actions")
RUN_ACTIONS = ("rollback", "retrain")  # notify is the notifier's
QUEUE = 100


class Actions:
    """Runs the rollback and retrain actions of firing alerts."""

    def __init__(self, stores: Stores, service: DeployService) -> None:
        self.stores = stores
        self.service = service
        self._last: dict[tuple[str, str], float] = {}  # (deployment, action) → epoch seconds
        self._rolled_back_to: dict[str, int] = {}  # deployment → version an alert put back
        self._queue: queue.Queue[tuple[Notice, MonitorConfig] | None] = queue.Queue(QUEUE)
        self._thread = threading.Thread(target=self._work, name="actions", daemon=True)
        for event in stores.metadata.list_events(kind="alert.action", limit=10_000):
            data = event.data
            if "action" in data:
                self._last[(data["deployment"], data["action"])] = data.get("at", 0.0)
                if data["action"] == "rollback" and data.get("to_version") is not None:
                    self._rolled_back_to[data["deployment"]] = data["to_version"]

    def start(self) -> None:
        """Start taking actions."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the action under way."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=60)

    def submit(self, notice: Notice, config: MonitorConfig) -> None:
        """Queue a firing alert's actions; never blocks the evaluator."""
        try:
            self._queue.put_nowait((notice, config))
        except queue.Full:
            self._event("alert.action_skipped", notice, {"why": "the action queue is full"})

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            self.run(*item)

    def run(self, notice: Notice, config: MonitorConfig) -> None:
        """Take the alert's actions (called once, when it starts firing)."""
        for action in notice.actions:
            if action not in RUN_ACTIONS:
                continue
            outcome = self._declined(notice.deployment, action, config.cooldown)
            data: dict[str, Any] = {"rule": notice.rule, "action": action, "at": time.time()}
            if outcome is not None:
                self._event("alert.action_skipped", notice, {**data, "why": outcome})
                continue
            try:
                done = (
                    self._rollback(notice)
                    if action == "rollback"
                    else self._retrain(notice, config)
                )
            except ShipyardError as err:
                self._event("alert.action_failed", notice, {**data, "error": err.message})
                continue
            except Exception as err:  # an OS or store failure: recorded, never fatal
                log.exception("%s of %s failed", action, notice.deployment)
                self._event("alert.action_failed", notice, {**data, "error": repr(err)})
                continue
            self._last[(notice.deployment, action)] = data["at"]
            self._event("alert.action", notice, {**data, **done})

    def _declined(self, deployment: str, action: str, cooldown: float) -> str | None:
        since = time.time() - self._last.get((deployment, action), float("-inf"))
        if since < cooldown:
            return f"cool-down: {action} ran {since:.0f} s ago (cooldown {cooldown:g} s)"
        if action == "rollback":
            try:
                stable = self.stores.deploy.get_deployment(deployment).stable
            except ShipyardError as err:
                return err.message
            if stable is not None and self._rolled_back_to.get(deployment) == stable:
                return (
                    f"v{stable} is serving because an alert rolled back to it; an alert does not "
                    "roll back a rollback (deploy a fixed version, or roll back by hand)"
                )
        return None

    def _rollback(self, notice: Notice) -> dict[str, Any]:
        before = self.stores.deploy.get_deployment(notice.deployment).stable
        reason = (
            f"alert {notice.rule}: {notice.when} (value {notice.value:.4g})"
            if (notice.value is not None)
            else f"alert {notice.rule}: {notice.when}"
        )
        after = self.service.rollback(notice.deployment, f"alert:{notice.rule}", reason=reason)
        if after.stable is not None:
            self._rolled_back_to[notice.deployment] = after.stable
        return {"from_version": before, "to_version": after.stable, "reason": reason}

    def _retrain(self, notice: Notice, config: MonitorConfig) -> dict[str, Any]:
        if not config.project or not (Path(config.project) / "shipyard.yaml").is_file():
            raise ShipyardError(
                f"no project to retrain: {config.project or 'the monitor names none'}",
                hint="deploy from the project directory (`shipyard deploy` or `shipyard run`) "
                "so the monitor knows where the pipeline is",
            )
        logs = self.stores.home / "logs" / "retrain"
        logs.mkdir(parents=True, exist_ok=True)
        log_file = logs / f"{notice.deployment}-{time.strftime('%Y%m%dT%H%M%S')}.log"
        trigger = f"alert:{notice.rule}"
        command = [sys.executable, "-m", "shipyard", "run", "--force", "train"]
        with log_file.open("ab") as out:
            process = subprocess.Popen(
                [*command, "--trigger", trigger, "--json"],
                cwd=config.project,
                env={**os.environ, HOME_ENV: str(self.stores.home)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the run outlives a control-plane restart
            )
        log.info("retrain of %s started (pid %d), log %s", notice.deployment, process.pid, log_file)
        threading.Thread(target=process.wait, name="retrain-reaper", daemon=True).start()
        return {"pid": process.pid, "log": str(log_file), "project": config.project}

    def _event(self, kind: str, notice: Notice, data: dict[str, Any]) -> None:
        try:
            self.stores.alerts.alert_event(kind, f"alert:{notice.rule}", notice.deployment, data)
        except ShipyardError as err:
            log.error("cannot record %s: %s", kind, err.message)
