"""Notifications: an alert's news posted to every channel, off the evaluator's thread.

Each delivery is tried again up to the channel's ``retries`` times, waits doubling;
its outcome — delivered, or failed with the last error — is an ``alert.*`` event,
so a webhook that is down shows in ``shipyard alerts history``. The queue is
bounded: when it is full a notification is dropped and that, too, is an event.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipyard.outbound import connect, shown
from shipyard.spec.monitor_config import Channel

log = logging.getLogger("shipyard.notify")
FIRST_WAIT = 1.0  # seconds before the second attempt; doubled for each next one
QUEUE = 1000
WORKERS = 4  # a channel that times out does not hold up the others


@dataclass(frozen=True, slots=True)
class Notice:
    """What is said about one alert: it fires, it resolved, or it is a test."""

    status: str  # firing, resolved or test
    rule: str
    deployment: str
    model: str
    version: int | None
    severity: str
    when: str
    value: float | None
    threshold: float
    actions: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    since: float = 0.0  # epoch seconds the condition began
    at: float = field(default_factory=time.time)
    episode: int = 0
    reminder: bool = False  # a firing alert re-sent to Alertmanager: not news

    def text(self) -> str:
        """One line a person reads in a chat channel."""
        value = "no data" if self.value is None else f"{self.value:.4g}"
        head = {"firing": "FIRING", "resolved": "RESOLVED", "test": "TEST"}[self.status]
        line = f"[{head}] {self.rule} on {self.deployment}: {self.when} (now {value})"
        if self.status != "resolved":
            line += f", severity {self.severity}, actions: {', '.join(self.actions)}"
        return line


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def payload(notice: Notice, channel: Channel) -> Any:
    """The JSON document a channel of that format expects."""
    if channel.format == "alertmanager":
        labels = {
            "alertname": notice.rule,
            "deployment": notice.deployment,
            "model": notice.model,
            "severity": notice.severity,
            **notice.labels,
        }
        if notice.status == "test":
            labels["shipyard_test"] = "true"
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": {
                "summary": f"{notice.rule}: {notice.when}",
                "value": "" if notice.value is None else f"{notice.value:g}",
                "shipyard_actions": ",".join(notice.actions),
            },
            "startsAt": _iso(notice.since or notice.at),
            "generatorURL": f"shipyard://deployments/{notice.deployment}/alerts/{notice.rule}",
        }
        # a firing alert is re-sent while it fires; without news it ends by itself
        alert["endsAt"] = _iso(notice.at if notice.status == "resolved" else notice.at + 300)
        return [alert]
    if channel.format == "slack":
        return {
            "text": notice.text(),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": notice.text()}}],
        }
    return {
        "text": notice.text(),
        "status": notice.status,
        "alert": {
            "name": notice.rule,
            "deployment": notice.deployment,
            "model": notice.model,
            "version": notice.version,
            "severity": notice.severity,
            "when": notice.when,
            "value": notice.value,
            "threshold": notice.threshold,
            "labels": notice.labels,
            "actions": list(notice.actions),
            "since": _iso(notice.since) if notice.since else None,
            "at": _iso(notice.at),
            "episode": notice.episode,
        },
    }


def post(url: str, document: Any, timeout: float) -> int:
    """POST JSON; returns the status, raises ``OSError`` when there is no answer."""
    conn, path = connect(url, timeout)
    try:
        body = json.dumps(document).encode()
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        return conn.getresponse().status
    except http.client.HTTPException as err:
        raise OSError(str(err) or type(err).__name__) from None
    finally:
        conn.close()


Outcome = Callable[[Notice, Channel, str | None, int], None]  # error (None: sent), attempts


class Notifier:
    """Delivers notices on worker threads; ``outcome`` hears how each one went."""

    def __init__(self, outcome: Outcome, first_wait: float = FIRST_WAIT) -> None:
        self.outcome = outcome
        self.first_wait = first_wait
        self._queue: queue.Queue[tuple[Notice, Channel] | None] = queue.Queue(QUEUE)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"notify-{i}", daemon=True)
            for i in range(WORKERS)
        ]

    def start(self) -> None:
        """Start the delivery threads."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop after the deliveries under way (their retries are cut short)."""
        self._stop.set()
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break
        for thread in self._threads:
            thread.join(timeout=10)

    def send(self, notice: Notice, channels: tuple[Channel, ...]) -> None:
        """Queue the notice for every channel that wants it; never blocks."""
        for channel in channels:
            if notice.status == "resolved" and not channel.send_resolved:
                continue
            try:
                self._queue.put_nowait((notice, channel))
            except queue.Full:
                self.outcome(notice, channel, "dropped: the notification queue is full", 0)

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            notice, channel = item
            try:
                self._deliver(notice, channel)
            except Exception:  # a bug here must not kill the thread
                log.exception("notification to %s failed", shown(channel.webhook))

    def _deliver(self, notice: Notice, channel: Channel) -> None:
        document, wait, error = payload(notice, channel), self.first_wait, ""
        attempts = channel.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                status = post(channel.webhook, document, channel.timeout)
                if status < 300:
                    self.outcome(notice, channel, None, attempt)
                    return
                error = f"HTTP {status}"
                if 400 <= status < 500 and status != 429:
                    break  # the receiver refuses this document: trying again cannot help
            except OSError as err:
                error = str(err) or type(err).__name__
                if isinstance(err, TimeoutError) or "timed out" in error:
                    error = f"no answer within {channel.timeout:g} s"
            log.warning(
                "%s: attempt %d of %d failed: %s", shown(channel.webhook), attempt, attempts, error
            )
            if attempt < attempts and self._stop.wait(wait):
                break
            wait *= 2
        self.outcome(notice, channel, error, attempt)
