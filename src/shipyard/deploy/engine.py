"""The engine: drives rollouts through their plan and keeps servers at their desired state.

Every change follows one order: compute the next desired state, record it (the
deployment, the rollout and one event, in one transaction), then make the
server match. A crash between the two is healed by the next reconcile, which
is level-triggered: it compares the server with the recorded desired state and
applies the difference, however many times it runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from shipyard.clock import utc_now
from shipyard.deploy import rollout as machine
from shipyard.deploy.analysis import analyze, prometheus_totals, totals, window
from shipyard.deploy.plan import Plan
from shipyard.registry.aliases import holders
from shipyard.store import AliasChange, DeploymentRecord, Desired, RolloutRecord, Stores
from shipyard.targets import local_process as process
from shipyard.targets.contract import LoadFailed, Observed, StartFailed, TargetError, Targets

CONTROLLER = "shipyard-controller"
SLOW_APPLY = 1.0  # seconds: a step applied slower than this starts its clock when ready
UNHEALTHY_AFTER = 10.0  # seconds a running server may fail its liveness probe before a restart


def all_traffic_to(d: DeploymentRecord, version: int, keep_previous: bool = True) -> Desired:
    """All traffic to ``version``; the version that served until now (``d.stable``) stays
    loaded for the rollback window, so going back to it is a route change."""
    new = str(version)
    warm = {v: u for v, u in d.desired.warm.items() if v != new}
    previous = d.stable
    if keep_previous and previous is not None and str(previous) != new and d.rollback_window > 0:
        warm[str(previous)] = time.time() + d.rollback_window
    return Desired({new: 100}, {}, warm)


class Engine:
    """Rollout steps and reconciliation for every deployment of one Shipyard home."""

    def __init__(self, stores: Stores, target: Targets) -> None:
        self.stores = stores
        self.target = target
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._resumed: set[int] = set()  # rollouts this process has picked up
        self._adopted: set[str] = set()
        self._failing: dict[str, float] = {}  # deployment → when its liveness probe began failing

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """One change at a time per deployment, within this control plane."""
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            yield

    # -- reconcile -------------------------------------------------------------------

    def tick(self, name: str) -> None:
        """One reconcile pass for a deployment: its server, its warm versions, its rollout."""
        with self.locked(name):
            self.tick_locked(name)

    def tick_locked(self, name: str) -> None:
        """``tick`` for a caller that already holds the deployment's lock."""
        d = self.stores.deploy.get_deployment(name)
        self._adopt(d)
        self._check_liveness(d)
        r = self.stores.deploy.active_rollout(name)
        if r is not None and r.id not in self._resumed:
            self._resumed.add(r.id)
            if self._resume(d, r):
                return
        if r is None:
            d = self._expire_warm(d)
            if not d.desired.weights:  # nothing to serve (a first rollout that ended)
                self.target.stop(d, "nothing to serve")
                return
            self.target.apply(d, d.desired)
        else:
            self._drive(d, r)

    def _adopt(self, d: DeploymentRecord) -> None:
        if d.name in self._adopted:
            return
        proc = self.stores.deploy.get_process(d.name)
        observed = self.target.observe(d)
        if proc is not None and observed.running and observed.error is None:
            self.stores.deploy.set_process(
                d.name,
                proc,
                "deployment.process.adopted",
                CONTROLLER,
                f"pid {proc.pid} still serves {d.name}; adopted, not restarted",
            )
        self._adopted.add(d.name)

    def _check_liveness(self, d: DeploymentRecord) -> None:
        """A server that runs but has not answered its liveness probe for a while is killed
        (the reconcile that follows starts a new one); until then this pass waits."""
        proc = self.stores.deploy.get_process(d.name)
        if proc is None or not process.alive(proc) or self.target.probe(d):
            self._failing.pop(d.name, None)
            return
        observed = self.target.observe(d, timeout=2.0)
        if observed.error is None and observed.recovering:
            self._failing.pop(d.name, None)  # its supervisor is restarting a worker: not hung
            return
        since = self._failing.setdefault(d.name, time.monotonic())
        silent = time.monotonic() - since
        if silent < UNHEALTHY_AFTER:
            raise TargetError(f"{d.name}: not answering its liveness probe for {silent:.0f} s")
        self._failing.pop(d.name, None)
        self.target.kill(d, f"no answer to /v2/health/live for {silent:.0f} s: killed to restart")

    def _resume(self, d: DeploymentRecord, r: RolloutRecord) -> bool:
        """A rollout a previous control plane started: continue or abort it, per its plan."""
        plan = Plan.from_data(r.plan)
        if plan.on_resume == "abort":
            self.abort(d, r, "the control plane restarted mid-rollout; resume policy is abort")
            return True
        self.stores.deploy.record(
            "rollout.resumed",
            CONTROLLER,
            f"the control plane restarted; continuing at step {r.step + 1} ({r.state})",
            rollout=r,
        )
        return False

    def _expire_warm(self, d: DeploymentRecord) -> DeploymentRecord:
        now = time.time()
        expired = [v for v, until in d.desired.warm.items() if until <= now]
        if not expired:
            return d
        warm = {v: u for v, u in d.desired.warm.items() if v not in expired}
        saved, _ = self.stores.deploy.record(
            "deployment.warm.expired",
            CONTROLLER,
            f"rollback window over for v{', v'.join(expired)}; unloading",
            deployment=replace(d, desired=replace(d.desired, warm=warm)),
        )
        assert saved is not None
        return saved

    # -- rollouts --------------------------------------------------------------------

    def start(self, d: DeploymentRecord, r: RolloutRecord, reason: str) -> RolloutRecord:
        """Record a new rollout (refused if one is under way) with the new version at weight 0."""
        new = str(r.to_version)
        desired = d.desired
        if d.stable is None:
            desired = Desired({new: 100})  # the first version: nothing to split with
        elif r.strategy != "recreate":
            desired = replace(
                desired,
                weights={**desired.weights, new: desired.weights.get(new, 0)},
                warm={v: u for v, u in desired.warm.items() if v != new},
            )
        _, saved = self.stores.deploy.record(
            "rollout.started", r.actor, reason, deployment=replace(d, desired=desired), rollout=r
        )
        assert saved is not None
        self._resumed.add(saved.id)
        return saved

    def _drive(self, d: DeploymentRecord, r: RolloutRecord) -> None:
        plan = Plan.from_data(r.plan)
        try:
            if r.state == "loading":
                self._load(d, r, plan)
            elif r.state == "progressing":
                self._progress(d, r, plan)
            else:  # paused: hold the step's state until promote or abort
                self.target.apply(d, d.desired)
        except (LoadFailed, StartFailed) as err:
            # the server cannot hold the new version (it died and will not start with it,
            # or a reload failed): back to what worked, rather than down for good
            current = self.stores.deploy.active_rollout(d.name)
            if current is None or current.id != r.id:
                raise  # it ended meanwhile: nothing to take back
            self.abort(
                self.stores.deploy.get_deployment(d.name),
                current,
                f"the server could not start or load with v{r.to_version}: {err.message}",
            )

    def _load(self, d: DeploymentRecord, r: RolloutRecord, plan: Plan) -> None:
        new = str(r.to_version)
        try:
            if r.strategy == "recreate":
                recreated = replace(d, desired=Desired({new: 100}))
                saved, _ = self.stores.deploy.record(
                    "deployment.recreating",
                    r.actor,
                    "recreate: stopping the server to start it on the new version (downtime)",
                    deployment=recreated,
                )
                assert saved is not None
                d = saved
                self.target.recreate(d, f"recreate on v{new}")
            else:
                self.target.apply(d, d.desired)
        except (LoadFailed, StartFailed) as err:  # anything else: try again next pass
            self._fail(d, r, err.message)
            return
        self._enter_step(d, r, 0, plan)

    def _fail(self, d: DeploymentRecord, r: RolloutRecord, error: str) -> None:
        """The new version never took traffic: drop it, keep everything else as it was."""
        new = str(r.to_version)
        old = r.from_version
        if r.strategy == "recreate" and old is not None:
            desired = Desired({str(old): 100})
            d = replace(d, **r.plan.get("restore", {}))  # the settings the old version ran with
        else:
            desired = replace(
                d.desired,
                weights={v: w for v, w in d.desired.weights.items() if v != new},
            )
        machine.check_transition(r.state, "failed")
        failed = replace(r, state="failed", error=error, finished_at=utc_now())
        saved, _ = self.stores.deploy.record(
            "rollout.failed",
            CONTROLLER,
            f"v{new} did not start: {error}",
            deployment=replace(d, desired=desired),
            rollout=failed,
        )
        assert saved is not None
        if saved.desired.weights:
            try:
                if r.strategy == "recreate":
                    self.target.recreate(saved, "recreate failed; back on the previous version")
                else:
                    self.target.apply(saved, saved.desired)
            except TargetError:
                pass  # the next reconcile tries again

    def _progress(self, d: DeploymentRecord, r: RolloutRecord, plan: Plan) -> None:
        step = plan.steps[r.step]
        self.target.apply(d, d.desired)  # level-triggered: the step's routes hold
        elapsed = time.time() - (r.step_started_at or time.time())
        if step.pause is not None and elapsed < step.pause:
            return
        if step.analyze:
            stable = None if r.from_version is None else str(r.from_version)
            prometheus = self.prometheus_url(d.name)
            if prometheus:  # the team's Prometheus, as the monitor says
                span = prometheus_totals(prometheus, d.name, elapsed)
            else:
                span = window(r.baseline, totals(self.target.metrics(d)))
            result = analyze(plan.analysis, str(r.to_version), stable, span, shadow=step.shadow > 0)
            if result.verdict == "fail":
                self.abort(
                    d,
                    r,
                    f"analysis failed at step {r.step + 1}: {result.failures()}",
                    actor=CONTROLLER,
                    analysis=result.to_data(),
                )
                return
            if result.verdict == "inconclusive":
                patience = max(3 * (step.pause or 0.0), (step.pause or 0.0) + 30.0)
                if elapsed < patience:
                    return
                paused = replace(r, state="paused", analysis=result.to_data())
                machine.check_transition(r.state, "paused")
                self.stores.deploy.record(
                    "rollout.paused",
                    CONTROLLER,
                    f"analysis inconclusive ({result.note}); waiting for promote or abort",
                    rollout=paused,
                )
                return
            r = replace(r, analysis=result.to_data())
        self._enter_step(d, r, r.step + 1, plan)

    def prometheus_url(self, name: str) -> str | None:
        """The Prometheus the deployment's monitor reads, if it names one."""
        url = (self.stores.alerts.get_monitor(name) or {}).get("prometheus_url")
        return str(url) if url else None

    def _enter_step(
        self,
        d: DeploymentRecord,
        r: RolloutRecord,
        index: int,
        plan: Plan,
        actor: str = "",
        reason: str = "",
    ) -> None:
        step = plan.steps[index]
        new, old = str(r.to_version), r.from_version
        if step.verify:
            try:
                self.target.smoke(d, new, d.options.get("verify_inputs"))
            except TargetError as err:
                self.abort(d, r, f"smoke test of v{new} failed: {err.message}", actor=CONTROLLER)
                return
        if step.weight >= 100:
            self._succeed(d, r, actor or CONTROLLER, reason)
            return
        weights: dict[str, int] = {}
        if old is not None:
            weights[str(old)] = 100 - step.weight
        shadow = {new: step.shadow} if step.shadow else {}
        warm = dict(d.desired.warm)
        if step.weight or not shadow:
            weights[new] = step.weight
        state = "paused" if step.pause is None else "progressing"
        machine.check_transition(r.state, state)
        counted = step.analyze and step.pause is not None and not self.prometheus_url(d.name)
        baseline = totals(self.target.metrics(d)) if counted else {}  # what the step adds to
        moved = replace(r, state=state, step=index, step_started_at=time.time(), baseline=baseline)
        desired = Desired(weights, shadow, warm)
        what = f"shadow {step.shadow}%" if shadow else f"{step.weight}% of traffic"
        saved, _ = self.stores.deploy.record(
            "rollout.step",
            actor or CONTROLLER,
            f"step {index + 1}/{len(plan.steps)}: v{new} gets {what}"
            + (f" (promoted: {reason})" if reason else ""),
            deployment=replace(d, desired=desired),
            rollout=moved,
        )
        assert saved is not None
        began = time.time()
        self.target.apply(saved, saved.desired)
        waited = time.time() - began
        if step.pause is not None and waited > SLOW_APPLY:
            self._restart_clock(saved.name, moved, waited)

    def _restart_clock(self, name: str, moved: RolloutRecord, waited: float) -> None:
        """A step whose pods took a while to be ready (a cluster) is timed, and analysed,
        from when they were: its interval must see the new version take traffic."""
        latest = self.stores.deploy.active_rollout(name)
        if latest is None or latest.id != moved.id or latest.step != moved.step:
            return
        self.stores.deploy.record(
            "rollout.step.ready",
            CONTROLLER,
            f"step {moved.step + 1} ready after {waited:.0f} s; its interval counts from now",
            rollout=replace(latest, step_started_at=time.time()),
        )

    def _succeed(self, d: DeploymentRecord, r: RolloutRecord, actor: str, reason: str = "") -> None:
        new, old = str(r.to_version), r.from_version  # old is d.stable until this succeeds
        # recreate never holds two versions at once
        desired = all_traffic_to(d, r.to_version, keep_previous=r.strategy != "recreate")
        machine.check_transition(r.state, "succeeded")
        done = replace(r, state="succeeded", step=len(r.plan["steps"]) - 1, finished_at=utc_now())
        promoted = replace(
            d,
            desired=desired,
            stable=r.to_version,
            history=(*[v for v in d.history if v != r.to_version], r.to_version)[-20:],
        )
        saved, _ = self.stores.deploy.record(
            "rollout.succeeded",
            actor,
            f"v{new} serves all traffic"
            + (f"; v{old} kept warm" if str(old) in desired.warm else "")
            + (f" (promoted: {reason})" if reason else ""),
            deployment=promoted,
            rollout=done,
            alias=self.alias_change(d, r.to_version, f"rollout {r.id} of {d.name} succeeded"),
        )
        assert saved is not None
        self.target.apply(saved, saved.desired)

    def abort(
        self,
        d: DeploymentRecord,
        r: RolloutRecord,
        reason: str,
        *,
        actor: str = CONTROLLER,
        analysis: dict[str, Any] | None = None,
    ) -> None:
        """All traffic back to the stable version, the new one unloaded."""
        new = str(r.to_version)
        machine.check_transition(r.state, "aborted")
        stable = {str(d.stable): 100} if d.stable is not None else {}
        warm = {v: u for v, u in d.desired.warm.items() if v != new}
        aborted = replace(
            r,
            state="aborted",
            error=reason,
            finished_at=utc_now(),
            analysis=analysis if analysis is not None else r.analysis,
        )
        saved, _ = self.stores.deploy.record(
            "rollout.aborted",
            actor,
            reason,
            deployment=replace(d, desired=Desired(stable, {}, warm)),
            rollout=aborted,
        )
        assert saved is not None
        if stable:
            self.target.apply(saved, saved.desired)
        else:
            self.target.stop(saved, "the first rollout was aborted; nothing to serve")

    def promote(
        self,
        d: DeploymentRecord,
        r: RolloutRecord,
        actor: str,
        full: bool = False,
        reason: str = "",
    ) -> None:
        """On to the next step now, without waiting or analysing (``full``: to the last);
        ``reason``, when given, is said in the step's event."""
        plan = Plan.from_data(r.plan)
        if r.state == "loading":
            self._load(d, r, plan)  # loaded, it is on its first step now: that is one step
            latest = self.stores.deploy.active_rollout(d.name)
            if not full or latest is None or latest.id != r.id:
                return
            d, r = self.stores.deploy.get_deployment(d.name), latest
        last = len(plan.steps) - 1
        index = last if full else min(r.step + 1, last)
        self._enter_step(d, r, index, plan, actor=actor, reason=reason)

    def alias_change(self, d: DeploymentRecord, version: int, reason: str) -> AliasChange:
        """The move of the deployment's alias (``production``) to the version it will serve:
        a rollback when that is the version the alias held before, else a set."""
        history = self.stores.metadata.alias_history(d.model, d.alias)
        stack = holders(history)
        back = len(stack) >= 2 and stack[-2] == version
        return AliasChange(d.alias, version, "rollback" if back else "set", reason)

    def observe(self, d: DeploymentRecord) -> Observed:
        """What the target reports for ``d`` right now."""
        return self.target.observe(d)
