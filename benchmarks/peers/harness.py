"""Servers and load for bench_serving.py: start a server, wait for it, check it, load it, stop it.

Every server starts in its own session on 127.0.0.1 and is stopped with its whole
process tree, even when the benchmark fails: some peers start workers in sessions
of their own (BentoML's circus) or leave busy workers behind when their parent
exits (LitServe), so the tree is read from /proc before signalling, SIGTERM goes to
the group and to every process of the tree, and SIGKILL to whatever is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Server:
    """How to start one server, and how to ask it for one prediction in its own format."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ready_path: str  # GET answers 200 once the server can predict
    path: str  # POST ``body`` here for one prediction
    body: str
    answer: Callable[[Any], Any] | None  # the predicted class in a parsed answer; None: no check
    port: int
    cwd: Path | None = None

    def url(self, path: str) -> str:
        """An address on this server."""
        return f"http://{HOST}:{self.port}{path}"


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def running(server: Server, logs: Path) -> Iterator[float]:
    """Start ``server``, yield the seconds from start to ready, and always stop it."""
    slug = re.sub(r"[^\w.-]+", "_", server.name)
    log = logs / f"{slug}-{server.port}.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            server.argv, env=server.env, cwd=server.cwd, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_ready(server, proc, log)
            yield time.perf_counter() - started
        finally:
            stop(proc)


def _wait_ready(server: Server, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.perf_counter() + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        try:
            if httpx.get(server.url(server.ready_path), timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited with {proc.returncode}:\n{tail}")
        time.sleep(0.01)
    raise RuntimeError(f"{server.name} was not ready after {START_TIMEOUT_S:.0f} s (log: {log})")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc`` and every process it started, whatever session they moved to."""
    pids = {proc.pid, *_descendants(proc.pid)}
    _signal_all(proc.pid, pids, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        proc.poll()  # reap our own child, so that it does not count as alive
        pids |= {child for pid in pids for child in _descendants(pid)}
        if not any(_alive(pid) for pid in pids):
            return
        time.sleep(0.05)
    _signal_all(proc.pid, {pid for pid in pids if _alive(pid)}, signal.SIGKILL)
    proc.wait()


def _signal_all(group: int, pids: set[int], sig: signal.Signals) -> None:
    for send, target in [(os.killpg, group), *((os.kill, pid) for pid in pids)]:
        with suppress(ProcessLookupError):
            send(target, sig)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def check(server: Server, expected: Any) -> None:
    """Refuse to load a server that does not answer ``expected`` to the benchmark's body."""
    if server.answer is None:
        return
    reply = httpx.post(
        server.url(server.path), content=server.body,
        headers={"content-type": "application/json"}, timeout=30,
    )  # fmt: skip
    try:
        got = server.answer(reply.json()) if reply.is_success else None
    except (ValueError, LookupError, TypeError):
        got = None
    if got != expected:
        raise RuntimeError(
            f"{server.name} answered {reply.status_code} {reply.text[:300]!r}; expected the "
            f"class {expected!r}, so it is not benchmarked"
        )


def wrk(url: str, body: str, seconds: float, connections: int, scripts: Path) -> dict[str, float]:
    """Load ``url`` with POSTs of ``body`` from wrk (2 threads); its figures, parsed."""
    script = scripts / f"post-{hashlib.sha1(body.encode()).hexdigest()[:12]}.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    argv = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s"]
    out = subprocess.run(
        [*argv, "--latency", "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    return _parse_wrk(out)


def _parse_wrk(out: str) -> dict[str, float]:
    def count(pattern: str) -> float:  # wrk leaves out error lines when there were none
        found = re.search(pattern, out)
        return float(sum(int(n) for n in found.groups())) if found else 0.0

    def latency_ms(percent: str) -> float:
        value, unit = _search(rf"\s{percent}%\s+([\d.]+)(us|ms|s)\b", out)
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": float(_search(r"Requests/sec:\s+([\d.]+)", out)[0]),
        "p50_ms": latency_ms("50"),
        "p99_ms": latency_ms("99"),
        "requests": float(_search(r"(\d+) requests in", out)[0]),
        "non_2xx": count(r"Non-2xx or 3xx responses: (\d+)"),
        "socket_errors": count(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
        ),
    }


def _search(pattern: str, out: str) -> tuple[str, ...]:
    found = re.search(pattern, out)
    if found is None:
        raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{out}")
    return found.groups()
