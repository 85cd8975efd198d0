"""Server processes of the local target: start, recognise, stop, and rotate their logs.

A deployment's server is an ordinary ``shipyard serve`` process in a session of
its own, so it outlives the control plane that started it. Its pid and start
time are recorded; a restarted control plane adopts a process whose pid and
start time still match (a reused pid never does) instead of starting another.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shipyard.clock import utc_now
from shipyard.process_info import boot_id
from shipyard.serving.options import SERVE_OPTIONS
from shipyard.store import DeploymentRecord, ProcessRecord

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_KEEP = 3
_children: dict[int, subprocess.Popen[bytes]] = {}  # started here: reaped here
_exit_codes: dict[int, int] = {}  # of children that ended, until asked for
_SECRETS = ("SHIPYARD_ADMIN_TOKEN", "SHIPYARD_SERVER_TOKEN")  # never passed to a model server

LIMIT_OPTIONS: dict[str, tuple[type, float, float]] = {  # applied around it, by prlimit
    "memory": (int, 64 * 2**20, 2**50),
    "open_files": (int, 16, 2**20),
}
# the kubernetes target's settings are checked by k8s.target.ClusterOptions
OPTIONS: dict[str, tuple[type, float, float]] = {
    # ``shipyard serve`` options a deployment may set: type and range from their one table
    **{o.name: (o.type, o.low or 0, o.high or 0) for o in SERVE_OPTIONS.values()},
    **LIMIT_OPTIONS,
    "verify_inputs": (list, 0, 0),
    "kubernetes": (dict, 0, 0),
}


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Refuse an option the server does not take, or a value of the wrong type or range."""
    from shipyard.errors import InvalidInputError

    for name, value in options.items():
        if name not in OPTIONS:
            raise InvalidInputError(
                f"unknown deployment option {name!r}", hint=f"known: {', '.join(sorted(OPTIONS))}"
            )
        kind, low, high = OPTIONS[name]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind in (int, float):
            ok = number and (kind is float or isinstance(value, int)) and low <= value <= high
        else:
            ok = isinstance(value, kind)
        if not ok:
            shown = (
                f"a {kind.__name__}"
                if kind not in (int, float)
                else (f"a{'n' if kind is int else ''} {kind.__name__} from {low:g} to {high:g}")
            )
            raise InvalidInputError(f"deployment option {name!r}: expected {shown}, got {value!r}")
    return options


def alive(process: ProcessRecord) -> bool:
    """Whether the recorded process still runs (the same process, not a reused pid)."""
    child = _children.get(process.pid)
    if child is not None and child.poll() is not None:
        _children.pop(process.pid, None)
        _exit_codes[process.pid] = child.returncode
        return False
    return boot_id(process.pid) == process.boot_id


def serve_command(record: DeploymentRecord, admin_socket: Path) -> list[str]:
    """The ``shipyard serve`` command line for a deployment's current desired state
    (which must route traffic to at least one version)."""
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
    return command


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


def start(record: DeploymentRecord, home: Path, admin_socket: Path, log: Path) -> ProcessRecord:
    """Start the deployment's server in its own session.

    The server writes a new admin token to ``SOCKET.token`` (mode 0600) once its port
    is bound; no token travels in its environment, where model code could read it.
    """
    token_file = admin_socket.with_name(admin_socket.name + ".token")
    token_file.unlink(missing_ok=True)  # a stale token must not be mistaken for the new one
    log.parent.mkdir(parents=True, exist_ok=True)
    rotate(log)
    env = {k: v for k, v in os.environ.items() if k not in _SECRETS}
    env.update(SHIPYARD_HOME=str(home), PYTHONUNBUFFERED="1")
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
    return process


def exit_code(pid: int) -> int | None:
    """The exit code of a server this process started and that has ended (asked once)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
        return child.returncode
    return _exit_codes.pop(pid, None)


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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    child = _children.pop(process.pid, None)
    if child is not None:
        child.wait()
    _exit_codes.pop(process.pid, None)


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
