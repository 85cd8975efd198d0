"""Server processes of the local target: start, recognise, stop, and rotate their logs.

A deployment's server is an ordinary ``shipyard serve`` process in a session of
its own, so it outlives the control plane that started it. Its pid and start
time are recorded; a restarted control plane adopts a process whose pid and
start time still match (a reused pid never does) instead of starting another.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shipyard.store import DeploymentRecord, ProcessRecord
from shipyard.store.sqlite_db import utc_now

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_KEEP = 3
_children: dict[int, subprocess.Popen[bytes]] = {}  # started here: reaped here

# ``shipyard serve`` options a deployment may set, with their types; anything else is refused.
SERVE_OPTIONS: dict[str, type] = {
    "max_concurrent": int,
    "max_body": int,
    "timeout": float,
    "max_batch_size": int,
    "max_latency_ms": float,
    "max_queue": int,
    "threads": int,
    "trust": list,
    "trust_pickle": bool,
}
LIMIT_OPTIONS: dict[str, type] = {"memory": int, "open_files": int}  # applied by prlimit
OPTIONS = {**SERVE_OPTIONS, **LIMIT_OPTIONS, "verify_inputs": list}


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Refuse an option the server does not take, or a value of the wrong type."""
    from shipyard.errors import InvalidInputError

    for name, value in options.items():
        kind = OPTIONS.get(name)
        if kind is None:
            raise InvalidInputError(
                f"unknown deployment option {name!r}", hint=f"known: {', '.join(sorted(OPTIONS))}"
            )
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok or (kind in (int, float) and value <= 0):
            raise InvalidInputError(
                f"deployment option {name!r}: expected a positive {kind.__name__}, got {value!r}"
            )
    return options


def boot_id(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def alive(process: ProcessRecord) -> bool:
    """Whether the recorded process still runs (the same process, not a reused pid)."""
    child = _children.get(process.pid)
    if child is not None and child.poll() is not None:
        del _children[process.pid]
        return False
    return boot_id(process.pid) == process.boot_id


def serve_command(record: DeploymentRecord, admin_socket: Path) -> list[str]:
    """The ``shipyard serve`` command line for a deployment's current desired state."""
    desired = record.desired
    weights = dict(desired.weights.items())
    for version in desired.warm:
        weights.setdefault(version, 0)
    command = [
        sys.executable,
        "-m",
        "shipyard",
        "serve",
        record.model,
        "--weights",
        ",".join(f"{v}={w}" for v, w in sorted(weights.items(), key=lambda i: int(i[0]))),
        "--host",
        record.host,
        "--port",
        str(record.port),
        "--workers",
        str(record.replicas),
        "--deployment",
        record.name,
        "--admin-socket",
        str(admin_socket),
        "--log-format",
        "json",
    ]
    if desired.shadow:
        command += ["--shadow", ",".join(f"{v}={p}" for v, p in desired.shadow.items())]
    for option, value in sorted(record.options.items()):
        flag = f"--{option.replace('_', '-')}"
        if option not in SERVE_OPTIONS:
            continue  # limits and smoke inputs: used around the process, not by it
        if isinstance(value, bool):
            command.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, list):
            for item in value:
                command += [flag, str(item)]
        else:
            command += [flag, str(value)]
    return [part for part in command if part]


def _limits(record: DeploymentRecord) -> list[str]:
    """``prlimit`` in front of the command for the deployment's resource limits, if any."""
    memory, files = record.options.get("memory"), record.options.get("open_files")
    tool = shutil.which("prlimit")
    if not (memory or files) or tool is None:
        return []
    return [
        tool,
        *([f"--as={int(memory)}"] if memory else []),
        *([f"--nofile={int(files)}"] if files else []),
        "--",
    ]


def start(
    record: DeploymentRecord, home: Path, admin_socket: Path, log: Path
) -> tuple[ProcessRecord, str]:
    """Start the deployment's server in its own session; returns its record and admin token."""
    token = secrets.token_urlsafe(24)
    token_file = admin_socket.with_name(admin_socket.name + ".token")
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.unlink(missing_ok=True)
    token_file.touch(mode=0o600)
    token_file.write_text(token + "\n")
    log.parent.mkdir(parents=True, exist_ok=True)
    rotate(log)
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_ADMIN_TOKEN": token,
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("ab") as out:
        out.write(f"--- {utc_now()} starting {record.name}\n".encode())
        out.flush()
        child = subprocess.Popen(
            _limits(record) + serve_command(record, admin_socket),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a signal to the control plane never reaches it
        )
    _children[child.pid] = child
    process = ProcessRecord(
        deployment=record.name,
        pid=child.pid,
        boot_id=boot_id(child.pid) or "",
        port=record.port,
        admin_socket=str(admin_socket),
        token_file=str(token_file),
        log=str(log),
        started_at=utc_now(),
    )
    return process, token


def exit_code(pid: int) -> int | None:
    """The exit code of a server this process started and that has ended."""
    child = _children.get(pid)
    return None if child is None else child.poll()


def stop(process: ProcessRecord, timeout: float = 20.0) -> None:
    """SIGTERM (the server drains first), then SIGKILL if it outstays ``timeout``."""
    if not alive(process):
        return
    try:
        os.kill(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(process):
        os.killpg(process.pid, signal.SIGKILL)
    child = _children.pop(process.pid, None)
    if child is not None:
        child.wait()


def rotate(log: Path, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> bool:
    """Copy-and-truncate rotation (``log.1`` … ``log.N``) once ``log`` is over ``max_bytes``.

    The server keeps its file open in append mode, so truncating in place is safe;
    lines written between the copy and the truncation can be lost, as with
    logrotate's ``copytruncate``.
    """
    try:
        if log.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for n in range(keep - 1, 0, -1):
        older = log.with_name(f"{log.name}.{n}")
        if older.exists():
            older.replace(log.with_name(f"{log.name}.{n + 1}"))
    shutil.copyfile(log, log.with_name(f"{log.name}.1"))
    with log.open("r+b") as f:
        f.truncate(0)
    return True


def tail(log: Path, lines: int = 20) -> list[str]:
    """The last lines of a server's log (to explain why it stopped)."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
