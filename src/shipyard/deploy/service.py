"""Deploy, promote, abort, roll back and report: the one implementation the REST API
(and through it the CLI and the pipeline's deploy stage) calls.

Requests are checked before anything is written: an unknown or refused version,
a bad name, a taken port and a bad split are errors that change nothing (a
refused version is still recorded as an event, for the audit log).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from shipyard.client.documents import DeploymentStatus
from shipyard.clock import utc_now
from shipyard.deploy.engine import Engine, all_traffic_to
from shipyard.deploy.plan import Plan, build_plan
from shipyard.deploy.request import (
    DeployRequest,
    RefusedVersion,
    check_deployment_name,
    check_host,
)
from shipyard.deploy.status import deployment_status
from shipyard.errors import ConflictError, InvalidInputError, NotFoundError, ShipyardError
from shipyard.refs import check_alias_name
from shipyard.store import DeploymentRecord, Desired, ModelVersion, RolloutRecord, Stores
from shipyard.tags import GATES_TAG
from shipyard.targets.contract import Asked, Placement


class DeployService:
    """Deployments of one Shipyard home."""

    def __init__(self, stores: Stores, engine: Engine) -> None:
        self.stores = stores
        self.engine = engine

    # -- deploy ----------------------------------------------------------------------

    def deploy(self, request: DeployRequest, actor: str) -> RolloutRecord:
        """Start a rollout of ``request.version`` (creating the deployment on first use)."""
        name = check_deployment_name(request.name or request.model)
        if request.alias is not None:
            check_alias_name(request.alias)
        if request.host is not None:
            check_host(request.host)
        plan = build_plan(
            request.strategy,
            steps=None if request.steps is None else tuple(request.steps),
            interval=request.interval,
            shadow_percent=request.shadow_percent,
            analysis=request.analysis.policy(),
            on_resume=request.on_resume,
        )
        version = self._resolve(request.model, request.version)
        number = version.version
        if request.target is not None:
            self.engine.target.named(request.target)  # an unknown one: a clear error
        request = request.model_copy(update={"version": number})
        if version.tags.get(GATES_TAG) == "failed" and not request.force:
            self.stores.metadata.append_event(
                "deploy.refused",
                actor,
                model=request.model,
                version=number,
                data={"deployment": name, "reason": "the version failed its quality gates"},
            )
            raise RefusedVersion(
                f"{request.model} v{request.version} failed its quality gates; not deployed",
                hint="deploy a version that passed, or add --force to deploy it anyway "
                "(recorded in the event log)",
            )
        first = build_plan("rolling", on_resume=request.on_resume)  # nothing to compare with
        with self.engine.locked(name):
            existing = self._find(name)
            target = existing.target if existing else request.target or "local"
            self._check_target(name, target, existing, request, plan)
            if existing is None:
                d = self._create(name, request, actor, number)
            else:
                d = self._check_existing(existing, request)
            data = plan.to_data() if d.stable is not None else first.to_data()
            if existing is not None and request.strategy == "recreate":
                # a recreate that fails goes back to the old version with its old settings
                keep = ("host", "replicas", "options")
                data["restore"] = {k: getattr(existing, k) for k in keep}
            rollout = RolloutRecord(
                id=0,
                deployment=name,
                strategy=request.strategy if d.stable is not None else "rolling",
                from_version=d.stable,
                to_version=number,
                plan=data,
                state="loading",
                step=0,
                step_started_at=None,
                baseline={},
                analysis={},
                error=None,
                actor=actor,
                reason=request.reason,
                started_at=utc_now(),
                finished_at=None,
            )
            forced = " (--force: its gates failed)" if request.force else ""
            started = self.engine.start(
                d, rollout, (request.reason or f"deploy v{request.version}") + forced
            )
            if existing is None:
                self._first_start(d, started)
        return started

    def _resolve(self, model: str, version: int | str) -> ModelVersion:
        if isinstance(version, int) or (version.isascii() and version.isdigit()):
            if int(version) < 1:
                raise InvalidInputError(f"version {version}: versions start at 1")
            return self.stores.metadata.get_version(model, int(version))
        number = self.stores.metadata.resolve_alias(model, check_alias_name(version))
        return self.stores.metadata.get_version(model, number)

    def _find(self, name: str) -> DeploymentRecord | None:
        try:
            return self.stores.deploy.get_deployment(name)
        except NotFoundError:
            return None

    def _check_target(
        self,
        name: str,
        target: str,
        existing: DeploymentRecord | None,
        request: DeployRequest,
        plan: Plan,
    ) -> None:
        """What the deployment's target cannot do is refused before anything is recorded."""
        runs = self.engine.target.named(target)
        if request.strategy not in runs.strategies:
            raise InvalidInputError(
                f"the {target} target cannot run the {request.strategy} strategy",
                hint=f"on {target} use {' or '.join(runs.strategies)}",
            )
        analyzing = any(s.analyze and s.pause is not None for s in plan.steps)
        first = existing is None or existing.stable is None  # a first version is not analysed
        needs = runs.analysis_reads_prometheus and not first and analyzing
        if needs and not self.engine.prometheus_url(name):
            raise InvalidInputError(
                f"deployment {name!r} runs on the {target} target: its canary analysis reads "
                "Prometheus, and its monitor names none",
                hint="set monitor.prometheus_url in shipyard.yaml and run `shipyard alerts "
                "apply`, or leave out --interval to pause at each step for promote",
            )

    def _create(
        self, name: str, request: DeployRequest, actor: str, version: int
    ) -> DeploymentRecord:
        """A new deployment where its target places it, once the target has checked that it
        can run it (a cluster: reachable, namespace there, every object valid in a dry
        run): else nothing is recorded."""
        kind = request.target or "local"
        taken = {d.port: d.name for d in self.stores.deploy.list_deployments()}
        placed = self.engine.target.named(kind).place(name, _asked(request), taken)
        record = _new(name, request, kind, placed)
        self.engine.target.check(record, Desired({str(version): 100}))
        return self._save(record, actor, request.reason)

    def _save(self, record: DeploymentRecord, actor: str, reason: str) -> DeploymentRecord:
        self.stores.deploy.create_deployment(record, actor, reason or "first deploy")
        return self.stores.deploy.get_deployment(record.name)

    def _check_existing(self, d: DeploymentRecord, request: DeployRequest) -> DeploymentRecord:
        if d.model != request.model:
            raise InvalidInputError(
                f"deployment {d.name!r} serves model {d.model!r}, not {request.model!r}",
                hint="give another deployment name with --name",
            )
        if request.target not in (None, d.target):
            raise InvalidInputError(
                f"deployment {d.name!r} runs on the {d.target} target, not {request.target}",
                hint="give another deployment name with --name to deploy it there too",
            )
        placed, changed = self.engine.target.of(d).update(d, _asked(request))
        active = self.stores.deploy.active_rollout(d.name)
        if active is None and d.stable == request.version and not changed:
            raise ConflictError(
                f"deployment {d.name!r} already serves v{request.version}; nothing to do"
            )
        updated = replace(
            d,
            host=placed.host,
            port=placed.port,
            replicas=placed.replicas,
            alias=request.alias or d.alias,
            rollback_window=placed.rollback_window,
            options=placed.options,
        )
        if changed:  # new settings: the target must accept them before anything changes
            self.engine.target.check(updated, Desired({str(request.version): 100}))
        return updated

    def _first_start(self, d: DeploymentRecord, rollout: RolloutRecord) -> None:
        """The first version has nothing to fall back on: start it now (the caller holds the
        deployment's lock), or leave no trace of the deployment."""
        with contextlib.suppress(ShipyardError):
            self.engine.tick_locked(d.name)
        latest = self.stores.deploy.list_rollouts(d.name, limit=1)[0]
        if latest.id == rollout.id and latest.state == "failed":
            reason = f"its first version did not start: {latest.error}"
            self.engine.target.stop(d, reason)  # reaps the process that exited
            self.stores.deploy.delete_deployment(d.name, "shipyard-controller", reason)
            raise ShipyardError(
                f"v{latest.to_version} did not start; deployment {d.name!r} was not created",
                hint=latest.error,
            )

    # -- promote, abort, rollback ------------------------------------------------------

    def _active(self, name: str) -> tuple[DeploymentRecord, RolloutRecord]:
        d = self.stores.deploy.get_deployment(name)
        r = self.stores.deploy.active_rollout(name)
        if r is None:
            raise ConflictError(
                f"deployment {name!r} has no rollout in progress (it serves v{d.stable})",
                hint=f"start one with `shipyard deploy {d.model} --version N`",
            )
        return d, r

    def promote(self, name: str, actor: str, full: bool = False, reason: str = "") -> RolloutRecord:
        """On to the next step now, skipping its wait and analysis (``full``: all traffic);
        ``reason`` goes into the step's event."""
        with self.engine.locked(name):
            d, r = self._active(name)
            self.engine.promote(d, r, actor, full, reason)
        return self.stores.deploy.list_rollouts(name, limit=1)[0]

    def abort(self, name: str, actor: str, reason: str = "") -> RolloutRecord:
        """Return all traffic to the stable version and unload the new one."""
        with self.engine.locked(name):
            d, r = self._active(name)
            self.engine.abort(d, r, reason or "aborted by hand", actor=actor)
        return self.stores.deploy.list_rollouts(name, limit=1)[0]

    def rollback(
        self, name: str, actor: str, to: int | None = None, reason: str = ""
    ) -> DeploymentRecord:
        """Traffic back to the previous version (or ``to``), the alias with it.

        A rollout in progress is aborted instead (its stable version is where
        traffic goes back to). A version still warm is switched to at once; another
        one is loaded beside first.
        """
        with self.engine.locked(name):
            d = self.stores.deploy.get_deployment(name)
            r = self.stores.deploy.active_rollout(name)
            if r is not None:
                self.engine.abort(d, r, reason or "rolled back during the rollout", actor=actor)
                return self.stores.deploy.get_deployment(name)
            target, history = self._rollback_target(d, to)
            self.stores.metadata.get_version(d.model, target)  # a clear error if unknown
            current = d.stable
            was_warm = str(target) in d.desired.versions()
            if not was_warm:
                self.engine.target.load(d, str(target))
            saved, _ = self.stores.deploy.record(
                "deployment.rolled_back",
                actor,
                reason or f"rollback from v{current} to v{target}",
                deployment=replace(
                    d, desired=all_traffic_to(d, target), stable=target, history=history
                ),
                data={
                    "from_version": current,
                    "to_version": target,
                    "warm": was_warm,
                },
                alias=self.engine.alias_change(d, target, reason or f"rollback of {name}"),
            )
            assert saved is not None
            self.engine.target.apply(saved, saved.desired)
            return saved

    def _rollback_target(self, d: DeploymentRecord, to: int | None) -> tuple[int, tuple[int, ...]]:
        if to is not None:
            if to == d.stable:
                raise ConflictError(f"deployment {d.name!r} already serves v{to}")
            return to, (*[v for v in d.history if v != to], to)
        if len(d.history) < 2:
            raise NotFoundError(
                f"deployment {d.name!r} has no previous version to roll back to "
                f"(it has only served v{d.stable})",
                hint=f"name one with `shipyard rollback {d.name} --to VERSION`",
            )
        return d.history[-2], d.history[:-1]

    def set_traffic(
        self,
        name: str,
        weights: dict[str, int],
        shadow: dict[str, int],
        actor: str,
        reason: str = "",
    ) -> DeploymentRecord:
        """A split by hand (an A/B test): percents over registered versions, summing to 100.

        Versions not loaded are loaded beside first; the alias does not move.
        """
        from shipyard.serving.routing import route_table

        table = route_table({"weights": weights, "shadow": shadow}, "traffic")
        if sum(table.weights.values()) != 100:
            shown = ", ".join(f"v{v} {w}%" for v, w in table.weights.items())
            raise InvalidInputError(
                f"traffic weights must sum to 100; {shown} sum to {sum(table.weights.values())}",
                hint="for example 3=90,4=10",
            )
        with self.engine.locked(name):
            d = self.stores.deploy.get_deployment(name)
            active = self.stores.deploy.active_rollout(name)
            if active is not None:
                raise ConflictError(
                    f"deployment {name!r} has a rollout in progress; its steps set the traffic",
                    hint=f"promote or abort it first (`shipyard abort {name}`)",
                )
            for version in table.versions():
                self.stores.metadata.get_version(d.model, int(version))
            desired = Desired(
                {v: w for v, w in table.weights.items() if w},
                {v: s for v, s in table.shadow.items() if s},
                {v: u for v, u in d.desired.warm.items() if v not in table.versions()},
            )
            self.engine.target.check(d, desired)  # a split the target cannot run: refused
            for version in sorted(desired.versions() - d.desired.versions(), key=int):
                self.engine.target.load(d, version)  # a failure changes nothing
            saved, _ = self.stores.deploy.record(
                "deployment.traffic",
                actor,
                reason or "traffic split set by hand",
                deployment=replace(d, desired=desired),
            )
            assert saved is not None
            self.engine.target.apply(saved, saved.desired)
            return saved

    def undeploy(self, name: str, actor: str, reason: str = "", force: bool = False) -> None:
        """Stop the deployment's server (or delete its objects) and forget the deployment
        (its events stay). ``force``: forget it even if its target cannot be reached."""
        reason = reason or "undeploy"
        with self.engine.locked(name):
            d = self.stores.deploy.get_deployment(name)
            try:
                self.engine.target.stop(d, reason)
            except ShipyardError as err:
                if not force:
                    raise ShipyardError(
                        f"{name}: {err.message}; the deployment was kept",
                        hint=f"if its {d.target} target is gone for good, `shipyard undeploy "
                        f"{name} --force` forgets it (whatever still runs there stays)",
                    ) from None
                reason += f" (--force; not stopped: {err.message})"
            self.stores.deploy.delete_deployment(name, actor, reason)

    def status(self, name: str) -> DeploymentStatus:
        """Desired against observed, the rollout under way (or the last one), the process."""
        return deployment_status(self.stores, self.engine, name)

    def statuses(self) -> list[DeploymentStatus]:
        """``status`` of every deployment (one deleted meanwhile is left out)."""
        found = []
        for d in self.stores.deploy.list_deployments():
            try:
                found.append(self.status(d.name))
            except NotFoundError:
                continue
        return found

    def rollouts(self, name: str, limit: int = 20) -> list[RolloutRecord]:
        """A deployment's rollouts, newest first (``NotFoundError`` for an unknown one)."""
        self.stores.deploy.get_deployment(name)
        return self.stores.deploy.list_rollouts(name, limit)


def _asked(request: DeployRequest) -> Asked:
    return Asked(
        request.strategy,
        request.host,
        request.port,
        request.replicas,
        request.rollback_window,
        dict(request.options),
    )


def _new(name: str, request: DeployRequest, target: str, placed: Placement) -> DeploymentRecord:
    """A deployment as first recorded: no version yet."""
    now = utc_now()
    return DeploymentRecord(
        name=name,
        model=request.model,
        target=target,
        host=placed.host,
        port=placed.port,
        replicas=placed.replicas,
        alias=request.alias or "production",
        rollback_window=placed.rollback_window,
        options=placed.options,
        desired=Desired(),
        stable=None,
        history=(),
        generation=0,
        created_at=now,
        updated_at=now,
    )
