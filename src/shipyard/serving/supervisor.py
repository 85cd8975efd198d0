"""The supervisor: binds the port, runs N worker processes on it, and changes them together.

Workers inherit one listening socket and accept from it in turn. The
supervisor never serves model traffic; it keeps the deployment's state (which
versions are loaded, the route table), applies admin commands to every worker
(one command at a time), restarts a worker that dies with backoff — in the
current state — and shuts down in order on SIGTERM or Ctrl-C: readiness false
everywhere, an optional delay for load balancers to notice, then each worker
stops accepting, finishes its in-flight requests and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from asyncio.subprocess import Process
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from shipyard import errors
from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.serving.config import ServeConfig
from shipyard.serving.routing import RouteTable, route_table

log = logging.getLogger("shipyard.supervisor")

COMMAND_TIMEOUT_S = 300.0  # a load may take long for a big model; a drain, up to the timeout


# The thread pools of numpy's BLAS, torch (OpenMP) and TensorFlow read these at start-up.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "TF_NUM_INTRAOP_THREADS")  # fmt: skip


def thread_limits(workers: int) -> dict[str, str]:
    """Each worker's share of the cores for its model library's threads, so ``workers``
    processes do not run more threads than there are cores (variables the user set win)."""
    share = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    return dict.fromkeys(THREAD_ENV, share) | {"TF_NUM_INTEROP_THREADS": "1"}


class CommandFailed(ShipyardError):
    """A worker refused or failed a command."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Worker:
    index: int
    process: Process
    serving: asyncio.Future[None]
    replies: dict[int, asyncio.Future[dict[str, Any]]]
    restarts: int = 0
    born: float = 0.0
    reader: asyncio.Task[None] | None = None


def _worker_error(message: dict[str, Any]) -> ShipyardError:
    """A worker's own error at start (a model it cannot load), as the same kind of error."""
    kind = getattr(errors, str(message.get("kind")), None)
    if not (isinstance(kind, type) and issubclass(kind, ShipyardError)):
        kind = ShipyardError
    error: ShipyardError = kind(message["error"], hint=message.get("hint"))
    return error


def how_it_ended(code: int) -> str:
    """A worker's exit status in words: the signal that killed it, or its exit code."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    why = " (sent by someone, or the kernel's out-of-memory killer)" if name == "SIGKILL" else ""
    return f"was killed by {name}{why}"


def _pass_on(done: asyncio.Future[None], to: asyncio.Future[None]) -> None:
    """A replacement's start decides the start of the worker it replaces."""
    if to.done():
        return
    if done.cancelled() or done.exception() is None:
        to.set_result(None)
    else:
        to.set_exception(done.exception() or ShipyardError("cancelled"))


def _log_start_failure(serving: asyncio.Future[None]) -> None:
    if not serving.cancelled() and serving.exception() is not None:
        log.error("a restarted worker could not start: %s", serving.exception())


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker shares."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise InvalidInputError(
            f"cannot listen on {host}:{port}: {err.strerror}", hint="choose another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def fresh_metrics_dir(path: Path) -> None:
    """An empty directory for the workers' metric samples (a killed server leaves its own)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


async def start_worker(sock: socket.socket, workers: int, metrics_dir: Path) -> Process:
    """A worker process, importing its serving stack until its configuration arrives."""
    env = {
        **thread_limits(workers),
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shipyard.serving.worker",
        "--fd",
        str(sock.fileno()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        pass_fds=(sock.fileno(),),
        env=env,
        start_new_session=True,  # terminal signals go to the supervisor, which orders them
    )


class Supervisor:
    """Worker processes of one server, and the deployment state they share."""

    def __init__(
        self, config: ServeConfig, sock: socket.socket, workers: int, metrics_dir: Path
    ) -> None:
        self.config = config
        self.sock = sock
        self.size = workers
        self.workers: list[Worker] = []
        self.versions = config.versions
        self.routes = route_table(config.routes)
        self.started = False
        self.stopping = False
        self.drained_at: float | None = None
        self.lock = asyncio.Lock()  # one admin command at a time
        self._ids = itertools.count(1)
        self._metrics_dir = metrics_dir

    async def spawn(self, started: list[Process] | None = None) -> None:
        """Configure the worker processes ``started`` already, and start the rest."""
        given = started or []
        self.workers = [
            await self._spawn(i, process=given[i] if i < len(given) else None)
            for i in range(self.size)
        ]

    async def started_all(self) -> None:
        """Wait until every worker serves (or fail with the first error)."""
        await asyncio.gather(*(w.serving for w in self.workers))
        self.started = True

    async def _spawn(self, index: int, restarts: int = 0, process: Process | None = None) -> Worker:
        if process is None:
            process = await start_worker(self.sock, self.size, self._metrics_dir)
        config = self.config.with_state(self.versions, self.routes.to_data())
        assert process.stdin is not None
        process.stdin.write(config.to_json().encode() + b"\n")  # its first line: what to serve
        loop = asyncio.get_running_loop()
        worker = Worker(index, process, loop.create_future(), {}, restarts, time.monotonic())
        worker.reader = loop.create_task(self._read(worker))
        return worker

    async def _read(self, worker: Worker) -> None:
        """Replies from one worker, until it exits; then restart it unless stopping."""
        assert worker.process.stdout is not None
        async for line in worker.process.stdout:
            message = json.loads(line)
            if message.get("event") == "serving":
                if not worker.serving.done():
                    worker.serving.set_result(None)
                continue
            if message.get("event") == "failed":
                if not worker.serving.done():
                    worker.serving.set_exception(_worker_error(message))
                continue
            future = worker.replies.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)
        code = await worker.process.wait()
        self._forget(worker.process.pid)
        for future in worker.replies.values():  # its replacement starts in the new state
            if not future.done():
                future.set_result({"ok": True, "exited": code, "pid": worker.process.pid})
        if self.stopping:
            if not worker.serving.done():
                worker.serving.set_exception(ShipyardError("stopped while starting"))
            return
        reported = worker.serving.done() and worker.serving.exception() is not None
        if not self.started and (reported or not self._one_serves()):
            # The first start failed before any worker served (a model it cannot load, a
            # crash loading it): the caller reports that instead of starting workers that
            # would fail the same way. A worker lost while another already serves is
            # replaced, and the start waits for its replacement.
            if not worker.serving.done():
                worker.serving.set_exception(
                    ShipyardError(f"worker {worker.index} {how_it_ended(code)} while starting")
                )
            return
        # At once the first time; a worker that keeps dying young backs off, up to 30 s.
        restarts = 0 if time.monotonic() - worker.born > 60 else worker.restarts + 1
        delay = 0.0 if restarts <= 1 else min(30.0, 0.25 * 2 ** (restarts - 1))
        log.warning(
            "worker %d (pid %s) %s; restarting it %s",
            worker.index,
            worker.process.pid,
            how_it_ended(code),
            f"in {delay:.1f} s" if delay else "now",
        )
        await asyncio.sleep(delay)
        async with self.lock:  # after any command under way: it starts in the state it leaves
            if self.stopping:
                return
            replacement = await self._spawn(worker.index, restarts)
            self.workers[worker.index] = replacement
            replacement.serving.add_done_callback(_log_start_failure)
            if not worker.serving.done():  # the first start waits for the replacement
                replacement.serving.add_done_callback(partial(_pass_on, to=worker.serving))

    def _one_serves(self) -> bool:
        """Whether any worker has started serving."""
        return any(
            w.serving.done() and not w.serving.cancelled() and w.serving.exception() is None
            for w in self.workers
        )

    def _forget(self, pid: int | None) -> None:
        """A dead worker's gauges must not count any more."""
        from prometheus_client import multiprocess

        if pid is not None:
            multiprocess.mark_process_dead(pid, self._metrics_dir)

    async def broadcast(
        self, op: str, *, only_serving: bool = False, **fields: Any
    ) -> list[dict[str, Any]]:
        """Send one command to every worker; each one's state, or ``CommandFailed``.

        A worker that dies meanwhile answers ``exited``: its replacement starts in the
        state the command leaves."""
        loop = asyncio.get_running_loop()
        pending = []
        for worker in self.workers:
            if worker.process.returncode is not None:
                continue
            if only_serving and not worker.serving.done():
                pending.append(loop.create_future())
                pending[-1].set_result({"ok": True, "starting": True, "pid": worker.process.pid})
                continue
            ident = next(self._ids)
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            worker.replies[ident] = future
            assert worker.process.stdin is not None
            worker.process.stdin.write(
                json.dumps({"id": ident, "op": op, **fields}).encode() + b"\n"
            )
            pending.append(future)
        replies = await asyncio.wait_for(asyncio.gather(*pending), COMMAND_TIMEOUT_S)
        failed = [r for r in replies if not r["ok"]]
        if failed:
            raise CommandFailed(failed[0]["error"], failed[0]["status"])
        return replies

    def check_version(self, version: str) -> None:
        """A clear error, before any worker is asked, when ``version`` cannot be loaded."""
        if self.config.home is None:
            raise InvalidInputError("this server serves a bundle: it holds that one version only")
        from shipyard.home import stores_for
        from shipyard.refs import parse_ref
        from shipyard.registry import resolve

        stores = stores_for(Path(self.config.home))
        try:
            resolve(stores, parse_ref(f"{self.config.model}:{version}"))
        finally:
            stores.close()

    async def load(self, version: str) -> None:
        """Load ``version`` beside the others in every worker (all or none)."""
        async with self.lock:
            try:
                await self.broadcast("load", version=version)
            except (CommandFailed, TimeoutError):
                if version not in self.versions:
                    await self.broadcast("unload", version=version)
                raise
            if version not in self.versions:
                self.versions = (*self.versions, version)

    async def set_routes(self, routes: RouteTable) -> None:
        """Switch every worker to ``routes``."""
        async with self.lock:
            await self.broadcast("routes", routes=routes.to_data())
            self.routes = routes

    async def unload(self, version: str) -> None:
        """Drain and unload ``version`` in every worker."""
        async with self.lock:
            await self.broadcast("unload", version=version)
            self.versions = tuple(v for v in self.versions if v != version)
            self.routes = self.routes.without(version)

    async def state(self) -> dict[str, Any]:
        """The deployment's state and each worker's own view of it."""
        replies = await self.broadcast("state", only_serving=True)
        return {
            "model": self.config.model,
            "deployment": self.config.deployment,
            "versions": list(self.versions),
            "routes": self.routes.to_data(),
            "workers": [
                {"pid": r["pid"], **r["state"]}
                if "state" in r
                else {"pid": r["pid"], "ready": False, "starting": True}
                for r in replies
            ],
        }

    async def drain(self) -> None:
        """Readiness false in every worker (they go on answering); not behind the lock, so
        an admin command under way cannot delay it."""
        if self.drained_at is None:
            self.drained_at = time.monotonic()
        self.stopping = True
        with contextlib.suppress(CommandFailed, TimeoutError):  # stopped all the same
            await asyncio.wait_for(self.broadcast("drain"), 5)

    async def stop(self, delay: float) -> None:
        """Readiness false, ``delay`` after that, then stop every worker gracefully."""
        await self.drain()
        assert self.drained_at is not None
        await asyncio.sleep(max(0.0, delay - (time.monotonic() - self.drained_at)))
        for worker in self.workers:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*(w.process.wait() for w in self.workers))

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self._metrics_dir, ignore_errors=True)
