"""The local target: a deployment is one ``shipyard serve`` process on this machine.

Its workers hold every version the deployment routes to (stable, canary,
shadow, and versions kept warm for a rollback) and split traffic in-process, so
a switch is a route change and never a restart. The target makes the running
server match a desired state — start or adopt the process, load what is
missing, set the routes, unload what is no longer wanted — and reports what it
observed. It never decides: the engine does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.expressions.rollout_steps import STRATEGIES
from shipyard.process_info import tail
from shipyard.serving.admin_client import AdminClient, AdminError
from shipyard.serving.server import admin_socket_path
from shipyard.store import DeploymentRecord, Desired, ProcessRecord, Stores
from shipyard.targets import local_process as process
from shipyard.targets.contract import (
    Asked,
    LoadFailed,
    Observed,
    Placement,
    StartFailed,
    TargetError,
    check_replicas,
    normal,
)

START_TIMEOUT = 300.0  # seconds a new server may take to load its versions
LOAD_SETTLE = 60.0  # seconds a worker already restarting may take to come back with a load
BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
FIRST_PORT = 8000  # a new deployment without --port takes the next free one from here
MOST_WORKERS = 64
ROLLBACK_WINDOW = 600.0  # seconds the previous version stays loaded after a rollout


@dataclass(slots=True)
class _Restarts:
    failures: int = 0
    next_try: float = 0.0


@contextlib.contextmanager
def _admin(name: str) -> Iterator[None]:
    """Transport failures of the admin interface, as the target's own error."""
    try:
        yield
    except (OSError, ValueError, http.client.HTTPException) as err:
        raise TargetError(f"{name}: the server's admin interface failed: {err}") from None


class LocalTarget:
    """Runs deployments as server processes under a Shipyard home."""

    strategies: tuple[str, ...] = STRATEGIES
    analysis_reads_prometheus = False  # the control plane scrapes its own servers

    def __init__(self, stores: Stores, actor: str) -> None:
        self.stores = stores
        self.actor = actor
        self.home = stores.home
        self._restarts: dict[str, _Restarts] = {}
        self._workers: dict[str, list[int]] = {}  # worker pids last seen, for a hard kill

    # -- the process ---------------------------------------------------------------

    # -- placement ---------------------------------------------------------------------

    def place(self, name: str, asked: Asked, taken: dict[int, str]) -> Placement:
        """A port of this machine (the next free one from 8000 unless given), 1 worker."""
        host = asked.host or "127.0.0.1"
        port = asked.port
        if port is None:
            candidates = range(FIRST_PORT, 65536)
            port = next((p for p in candidates if p not in taken and port_free(host, p)), None)
            if port is None:
                raise InvalidInputError(f"no free port on {host} from {FIRST_PORT} up")
        elif port in taken:
            raise InvalidInputError(
                f"port {port} belongs to deployment {taken[port]!r}; {name!r} was not created",
                hint="choose another --port, or leave it out to take the next free one",
            )
        elif not port_free(host, port):
            raise InvalidInputError(
                f"port {port} on {host} is already in use; deployment {name!r} was not created",
                hint="choose another --port, or leave it out to take the next free one",
            )
        replicas = check_replicas(
            1 if asked.replicas is None else asked.replicas, MOST_WORKERS, "worker processes"
        )
        window = ROLLBACK_WINDOW if asked.rollback_window is None else asked.rollback_window
        options = process.check_options(dict(asked.options))
        return Placement(host, port, replicas, window, options)

    def update(self, record: DeploymentRecord, asked: Asked) -> tuple[Placement, bool]:
        """The port stays; a new host, worker count or server option restarts the server, so
        only ``recreate`` may change them."""
        if asked.replicas is not None:
            check_replicas(asked.replicas, MOST_WORKERS, "worker processes")
        if asked.port is not None and asked.port != record.port:
            raise InvalidInputError(
                f"deployment {record.name!r} listens on port {record.port}; its port cannot change",
                hint=f"leave out --port, or delete it first (`shipyard undeploy {record.name}`)",
            )
        options = process.check_options({**record.options, **asked.options})
        restart = {
            "--host": (asked.host, record.host),
            "--replicas": (asked.replicas, record.replicas),
            "--memory/--open-files/options": (
                _server_options(options),
                _server_options(record.options),
            ),
        }
        changed = [flag for flag, (given, now) in restart.items() if given not in (None, now)]
        if changed and asked.strategy != "recreate":
            raise InvalidInputError(
                f"changing {', '.join(changed)} of deployment {record.name!r} restarts its server",
                hint="deploy with --strategy recreate to apply it (downtime), or leave it out",
            )
        placement = Placement(
            asked.host or record.host,
            record.port,
            record.replicas if asked.replicas is None else asked.replicas,
            record.rollback_window if asked.rollback_window is None else asked.rollback_window,
            options,
        )
        return placement, bool(changed)

    def _client(self, proc: ProcessRecord, timeout: float = 330.0) -> AdminClient:
        with _admin(proc.deployment):
            token = Path(proc.token_file).read_text().strip()
        return AdminClient(Path(proc.admin_socket), token, timeout=timeout)

    def log_path(self, name: str) -> Path:
        """Where the deployment's server writes its log."""
        return self.home / "logs" / "deployments" / f"{name}.log"

    def check(self, record: DeploymentRecord, desired: Desired) -> None:
        """Nothing to ask ahead: the deploy checked the host and port."""

    def observe(self, record: DeploymentRecord, timeout: float = 10.0) -> Observed:
        """The server's state, or ``running=False`` if it is not up (never raises)."""
        proc = self.stores.deploy.get_process(record.name)
        if proc is None or not process.alive(proc):
            return Observed(False)
        try:
            with _admin(record.name):
                state = self._client(proc, timeout=timeout).state()
        except (TargetError, AdminError) as err:
            return Observed(True, proc.pid, error=err.message)
        return self._observed(record, proc, state)

    def _observed(
        self, record: DeploymentRecord, proc: ProcessRecord, state: dict[str, Any]
    ) -> Observed:
        self._workers[record.name] = [int(w["pid"]) for w in state["workers"] if w.get("pid")]
        return Observed(True, proc.pid, state["versions"], state["routes"], state["workers"])

    def probe(self, record: DeploymentRecord) -> bool:
        """Liveness: ``/v2/health/live`` answers 200 within 2 s."""
        try:
            self._request(record, "GET", "/v2/health/live", None, {}, timeout=2.0)
        except TargetError:
            return False
        return True

    def kill(self, record: DeploymentRecord, reason: str) -> None:
        """SIGKILL the server and its workers (a hung server ignores SIGTERM), then forget it."""
        proc = self.stores.deploy.get_process(record.name)
        if proc is None:
            return
        for pid in [proc.pid, *self._workers.get(record.name, [])]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.stop(proc, timeout=5.0)  # reaps it if this process started it
        self.stores.deploy.set_process(
            record.name, None, "deployment.process.killed", self.actor, reason
        )

    def ensure_running(self, record: DeploymentRecord, why: str) -> ProcessRecord:
        """The deployment's server: the recorded one if it still runs, else a new one
        (with backoff after failures). ``StartFailed`` if a new one does not come up."""
        proc = self.stores.deploy.get_process(record.name)
        if proc is not None and process.alive(proc):
            process.rotate(Path(proc.log))
            return proc
        restarts = self._restarts.setdefault(record.name, _Restarts())
        wait = restarts.next_try - time.monotonic()
        if wait > 0:
            raise TargetError(f"the server of {record.name!r} is down; next start in {wait:.0f} s")
        if proc is not None:
            code = process.exit_code(proc.pid)
            self.stores.deploy.set_process(
                record.name,
                None,
                "deployment.process.exited",
                self.actor,
                f"pid {proc.pid} exited" + ("" if code is None else f" with code {code}"),
            )
        socket = admin_socket_path(self.home, f"deploy-{record.name}")
        started = process.start(record, self.home, socket, self.log_path(record.name))
        # recorded before it is ready: a control plane that dies now cannot orphan it
        kind = "deployment.process.started" if proc is None else "deployment.process.restarted"
        self.stores.deploy.set_process(record.name, started, kind, self.actor, why)
        try:
            self._wait_ready(record, started)
        except StartFailed:
            restarts.failures += 1
            delay = BACKOFF[min(restarts.failures, len(BACKOFF)) - 1]
            restarts.next_try = time.monotonic() + delay
            raise
        restarts.failures = 0
        return started

    def _wait_ready(self, record: DeploymentRecord, proc: ProcessRecord) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not process.alive(proc):
                said = _errors(Path(proc.log))
                last = said[-1].removeprefix("error: ") if said else "no output"
                raise StartFailed(
                    f"the server of {record.name!r} exited while starting: {last}",
                    hint=f"its log: {proc.log}",
                )
            try:  # the token file appears once the server has bound its port
                state = self._client(proc, timeout=10.0).state()
            except (TargetError, AdminError, OSError, ValueError, http.client.HTTPException):
                time.sleep(0.1)
                continue
            if Observed(True, workers=state["workers"]).ready:
                return
            time.sleep(0.1)
        process.stop(proc)
        raise StartFailed(f"the server of {record.name!r} was not ready in {START_TIMEOUT:.0f} s")

    def stop(self, record: DeploymentRecord, reason: str) -> None:
        """Stop the deployment's server (it drains first) and forget what was known of it."""
        self._restarts.pop(record.name, None)
        self._workers.pop(record.name, None)
        proc = self.stores.deploy.get_process(record.name)
        if proc is None:
            return
        process.stop(proc)
        self.stores.deploy.set_process(
            record.name, None, "deployment.process.stopped", self.actor, reason
        )

    # -- versions and routes -------------------------------------------------------

    def _load(
        self, record: DeploymentRecord, client: AdminClient, version: str, before: dict[str, Any]
    ) -> dict[str, Any]:
        """Load ``version`` in every worker; ``LoadFailed`` (and unloaded again) unless every
        worker holds it and is ready. A worker that was there before the load and is gone
        after it died loading it; one that was already restarting gets a while to finish."""
        pids = {w["pid"] for w in before["workers"]}
        with _admin(record.name):
            try:
                state = client.load(version)
            except AdminError as err:
                raise LoadFailed(f"version {version} failed to load: {err.message}") from None
            deadline = time.monotonic() + LOAD_SETTLE
            while not pids - {w["pid"] for w in state["workers"]}:
                workers = state["workers"]
                if len(workers) == record.replicas and all(
                    w.get("ready") and version in w.get("versions", []) for w in workers
                ):
                    return state
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
                state = client.state()
            with contextlib.suppress(AdminError):
                client.unload(version)
        raise LoadFailed(
            f"version {version} failed to load: a worker died loading it or did not come back "
            "ready with it"
        )

    def load(self, record: DeploymentRecord, version: str) -> None:
        """Load ``version`` beside the others (a no-op if it is loaded)."""
        proc = self.ensure_running(record, "a version must be loaded")
        client = self._client(proc)
        with _admin(record.name):
            state = client.state()
        if version not in state["versions"]:
            self._load(record, client, version, state)

    def apply(self, record: DeploymentRecord, desired: Desired) -> Observed:
        """Make the running server hold exactly ``desired``: load, route, then unload."""
        proc = self.ensure_running(record, "reconcile")
        client = self._client(proc)
        with _admin(record.name):
            state = self._client(proc, timeout=10.0).state()
        wanted = desired.versions()
        for version in sorted(wanted - set(state["versions"]), key=int):
            state = self._load(record, client, version, state)
        routes = desired.routes()
        with _admin(record.name):
            if normal(state["routes"]) != normal(routes):
                state = client.route(routes["weights"], routes["shadow"])
            for version in sorted(set(state["versions"]) - wanted, key=int):
                state = client.unload(version)
        return self._observed(record, proc, state)

    def recreate(self, record: DeploymentRecord, reason: str) -> Observed:
        """Stop the server and start it again on ``record``'s desired state (downtime)."""
        self.stop(record, reason)
        self.ensure_running(record, reason)
        return self.observe(record)

    def metrics(self, record: DeploymentRecord, timeout: float = 30.0) -> str:
        """The server's ``/metrics`` page."""
        return self._request(record, "GET", "/metrics", None, {}, timeout).decode()

    def smoke(self, record: DeploymentRecord, version: str, inputs: list[Any] | None) -> None:
        """Check ``version`` answers, pinned: its readiness, then one infer per input."""
        base = f"/v2/models/{record.model}/versions/{version}"
        self._get(record, f"{base}/ready")
        for row in inputs or []:
            body = json.dumps({"instances": [row]}).encode()
            pinned = {"x-shipyard-version": version}
            self._request(record, "POST", f"/v1/models/{record.model}:predict", body, pinned)

    def _get(self, record: DeploymentRecord, path: str) -> bytes:
        return self._request(record, "GET", path, None, {})

    def _request(
        self,
        record: DeploymentRecord,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float = 30.0,
    ) -> bytes:
        host = "127.0.0.1" if record.host in ("0.0.0.0", "::", "") else record.host
        connection = http.client.HTTPConnection(host, record.port, timeout=timeout)
        try:
            connection.request(
                method, path, body=body, headers={"content-type": "application/json", **headers}
            )
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as err:
            raise TargetError(f"{record.name}: {method} {path} failed: {err}") from None
        finally:
            connection.close()
        if response.status != 200:
            raise TargetError(
                f"{record.name}: {method} {path} answered {response.status}: {data[:300].decode()}"
            )
        return data


def _errors(log: Path) -> list[str]:
    lines = tail(log, 40)
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines)[-8:]


def _server_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options that shape the server process (smoke inputs do not)."""
    return {k: v for k, v in options.items() if k not in ("verify_inputs", "kubernetes")}


def port_free(host: str, port: int) -> bool:
    """Nothing listens on ``host:port`` now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
