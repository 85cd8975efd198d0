"""The control plane's alert evaluator: after every scrape, each rule of each watched
deployment steps through its life cycle (inactive → pending → firing → resolved).

A transition is stored with its event before anything is said or done about it;
then the notice goes to the notifier's queue (never waited for) and, on firing,
the actions run. A deployment whose metrics cannot be read keeps its rules'
states — no data never means healthy — and after the monitor's grace period
raises the built-in ``MetricsUnavailable`` alert instead.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.expressions.alert_rules import UNAVAILABLE, AlertRule
from shipyard.expressions.promql import metric_expr
from shipyard.monitor.actions import RUN_ACTIONS, Actions
from shipyard.monitor.evaluate import AlertState, step
from shipyard.monitor.notify import Notice, Notifier
from shipyard.monitor.scraper import Scraper
from shipyard.outbound import shown
from shipyard.prometheus_api import PrometheusError, scalar
from shipyard.spec.monitor_config import Channel, MonitorConfig, monitor_config
from shipyard.store import AlertStateRecord, Stores

log = logging.getLogger("shipyard.alerting")
RESEND = 60.0  # seconds between reminders of a firing alert to Alertmanager
TICK = 0.5  # seconds between looks for a due Prometheus evaluation


@dataclass
class _Watch:
    """Where one rule stands on one deployment, in memory."""

    state: AlertState
    episode: int = 0
    last_sent: float = 0.0


class Alerting:
    """Evaluates every watched deployment's rules, on its own thread."""

    def __init__(self, stores: Stores, scraper: Scraper, actions: Actions) -> None:
        self.stores = stores
        self.scraper = scraper
        self.actions = actions
        self.notifier = Notifier(self._delivered)
        self._lock = threading.Lock()
        self._watches: dict[tuple[str, str], _Watch] = {}
        restarted = time.time()
        for saved in stores.alerts.alert_states():
            # a pending condition must hold its whole `for` again after a restart
            since = restarted if saved.state == "pending" else saved.active_since
            state = AlertState(saved.state, since, saved.value)
            self._watches[(saved.deployment, saved.rule)] = _Watch(state, saved.episode)
        self._configs: dict[str, tuple[str, MonitorConfig]] = {}
        self._prometheus_failing: dict[str, float] = {}  # deployment → first failed query
        self._evaluated: dict[str, float] = {}  # deployment → last evaluation
        self._scraped = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alerting", daemon=True)

    def start(self) -> None:
        """Start delivering notifications and evaluating: after each scrape, and every
        ``evaluation_interval`` for monitors that ask a Prometheus."""
        self.notifier.start()
        self.actions.start()
        self.scraper.listeners.append(self._scraped.set)
        self._thread.start()

    def stop(self) -> None:
        """Stop evaluating, then delivering."""
        self._stop.set()
        self._scraped.set()
        self._thread.join()
        self.actions.stop()
        self.notifier.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            scraped = self._scraped.wait(TICK)  # wakes at once when a scrape round ends
            self._scraped.clear()
            now = time.time()
            try:
                due = {
                    name: config
                    for name, config in self.monitors().items()
                    if (scraped and not config.prometheus_url)
                    or (
                        config.prometheus_url
                        and now - self._evaluated.get(name, 0.0) >= config.evaluation_interval
                    )
                }
                self.evaluate(now, due)
            except Exception:  # a bug here must not stop alerting
                log.exception("evaluation failed")

    def monitors(self) -> dict[str, MonitorConfig]:
        """Every watched deployment's monitor (parsed once per change)."""
        out: dict[str, MonitorConfig] = {}
        for name, data in self.stores.alerts.list_monitors().items():
            key = repr(data)
            cached = self._configs.get(name)
            if cached is None or cached[0] != key:
                cached = self._configs[name] = (key, monitor_config(data))
            out[name] = cached[1]
        self._forget(out)
        windows = [r.window for c in out.values() for r in c.rules]
        self.scraper.keep_at_least(max(windows, default=0.0) + 2 * self.scraper.interval)
        return out

    def _forget(self, monitors: dict[str, MonitorConfig]) -> None:
        """Drop what belongs to deployments and rules no longer watched (the store has)."""
        live = {(d, r.name) for d, c in monitors.items() for r in (*c.rules, UNAVAILABLE)}
        with self._lock:
            for key in set(self._watches) - live:
                del self._watches[key]
        for table in (self._configs, self._evaluated, self._prometheus_failing):
            for gone in set(table) - set(monitors):
                table.pop(gone, None)

    def evaluate(
        self, now: float | None = None, monitors: dict[str, MonitorConfig] | None = None
    ) -> None:
        """One evaluation of every rule of every watched deployment (or of ``monitors``)."""
        now = time.time() if now is None else now
        try:
            monitors = self.monitors() if monitors is None else monitors
        except ShipyardError as err:
            log.error("cannot read monitors: %s", err.message)
            return
        for deployment, config in monitors.items():
            failing, values = self._values(deployment, config, now)  # may ask Prometheus
            with self._lock:
                self._evaluated[deployment] = now
                fired = self._judge(deployment, config, failing, values, now)
            for notice in fired:
                self.actions.submit(notice, config)  # on the actions' own thread

    def _values(
        self, deployment: str, config: MonitorConfig, now: float
    ) -> tuple[float | None, dict[str, float | None]]:
        """Since when the metrics cannot be read (None: they can), and each rule's value."""
        if config.prometheus_url:
            return self._from_prometheus(deployment, config, now)
        failing = self.scraper.failing.get(deployment)
        if failing is not None:
            return failing[0], {}
        # a rule without two scrapes in its window (a start, or just after an outage) has
        # no value and so no verdict
        return None, self.scraper.values(deployment, config.rules, now)

    def _judge(
        self,
        deployment: str,
        config: MonitorConfig,
        failing: float | None,
        values: dict[str, float | None],
        now: float,
    ) -> list[Notice]:
        """Step the rules that have a verdict; the notices of those that started firing."""
        fired: list[Notice] = []
        if failing is None or now - failing >= config.unavailable_after:  # not in its grace
            unavailable = 0.0 if failing is None else 1.0
            self._step(deployment, config, UNAVAILABLE, unavailable, now, fired)
        if failing is None:  # else the rules keep their states until there is data again
            for rule in config.rules:
                if rule.name in values:
                    self._step(deployment, config, rule, values[rule.name], now, fired)
        for rule in (*config.rules, UNAVAILABLE):  # firing, judged or not: remind Alertmanager
            watch = self._watches.get((deployment, rule.name))
            if watch and watch.state.state == "firing" and now - watch.last_sent >= RESEND:
                watch.last_sent = now
                reminder = self._notice(deployment, rule, watch, "firing", now, None)
                channels = tuple(c for c in config.channels if c.format == "alertmanager")
                self.notifier.send(replace(reminder, reminder=True), channels)
        return [n for n in fired if set(n.actions) & set(RUN_ACTIONS)]

    def _from_prometheus(
        self, deployment: str, config: MonitorConfig, now: float
    ) -> tuple[float | None, dict[str, float | None]]:
        """Each rule's value as the team's Prometheus computes it (the exported PromQL)."""
        assert config.prometheus_url is not None
        values: dict[str, float | None] = {}
        try:
            for rule in config.rules:
                expr = metric_expr(rule.metric, rule.window, deployment)
                values[rule.name] = scalar(config.prometheus_url, expr, timeout=5.0)
        except PrometheusError as err:
            if deployment not in self._prometheus_failing:
                log.warning("%s: %s", deployment, err.message)
            return self._prometheus_failing.setdefault(deployment, now), {}
        self._prometheus_failing.pop(deployment, None)
        return None, values

    def _step(
        self,
        deployment: str,
        config: MonitorConfig,
        rule: AlertRule,
        value: float | None,
        now: float,
        fired: list[Notice],
    ) -> None:
        watch = self._watches.setdefault((deployment, rule.name), _Watch(AlertState()))
        since = watch.state.active_since
        change = step(rule, watch.state, value, now)
        if change is None:
            return
        if change == "firing":
            watch.episode += 1
        log.info("%s on %s: %s (value %s)", rule.name, deployment, change, value)
        record = AlertStateRecord(
            deployment,
            rule.name,
            watch.state.state,
            watch.state.active_since,
            value,
            watch.episode,
        )
        data = {
            "state": watch.state.state,
            "value": value,
            "when": rule.when,
            "episode": watch.episode,
        }
        try:
            self.stores.alerts.save_alert(record, f"alert.{change}", f"alert:{rule.name}", data)
        except ShipyardError as err:
            log.error("cannot record alert %s on %s: %s", rule.name, deployment, err.message)
        if change == "pending":
            return
        notice = self._notice(deployment, rule, watch, change, now, since)
        watch.last_sent = now
        self.notifier.send(notice, config.channels)
        if change == "firing":
            fired.append(notice)

    def _notice(
        self,
        deployment: str,
        rule: AlertRule,
        watch: _Watch,
        status: str,
        now: float,
        since: float | None,
    ) -> Notice:
        try:
            d = self.stores.deploy.get_deployment(deployment)
            model, version = d.model, d.stable
        except ShipyardError:
            model, version = "", None
        return Notice(
            status,
            rule.name,
            deployment,
            model,
            version,
            rule.severity,
            rule.when,
            watch.state.value,
            rule.threshold,
            rule.actions,
            rule.labels,
            since=watch.state.active_since or since or now,
            at=now,
            episode=watch.episode,
        )

    def _delivered(
        self, notice: Notice, channel: Channel, error: str | None, attempts: int
    ) -> None:
        if error is None and notice.reminder:
            return  # a reminder that arrived: not news
        data: dict[str, Any] = {
            "rule": notice.rule,
            "status": notice.status,
            "channel": shown(channel.webhook),
            "format": channel.format,
            "attempts": attempts,
            "episode": notice.episode,
        }
        if error is not None:
            data["error"] = error
        kind = "alert.notified" if error is None else "alert.notify_failed"
        try:
            self.stores.alerts.alert_event(kind, "shipyard", notice.deployment, data)
        except ShipyardError as err:
            log.error("cannot record %s: %s", kind, err.message)

    def test(
        self, deployment: str, rule_name: str, config: MonitorConfig, actor: str = "shipyard"
    ) -> Notice:
        """Send a synthetic notice of the rule to every channel (its actions do not run)."""
        rule = config.rule(rule_name)
        if rule is None:
            raise ShipyardError(f"no rule {rule_name!r} on deployment {deployment!r}")
        watch = _Watch(AlertState("firing", time.time(), None))
        notice = self._notice(deployment, rule, watch, "test", time.time(), None)
        self.stores.alerts.alert_event(
            "alert.test",
            actor,
            deployment,
            {"rule": rule.name, "channels": len(config.channels)},
        )
        self.notifier.send(notice, config.channels)
        return notice

    def states(self, deployment: str) -> dict[str, dict[str, Any]]:
        """Each rule's live state on a deployment."""
        with self._lock:
            return {
                rule: {
                    "state": w.state.state,
                    "since": w.state.active_since,
                    "value": w.state.value,
                    "episode": w.episode,
                }
                for (d, rule), w in self._watches.items()
                if d == deployment
            }
