"""Running a stage's command: output streamed to a callback and a log file, with a timeout.

The command runs in its own process group, so a timeout or Ctrl-C stops it and
everything it started. Output is read on a thread, so the timeout holds even
while the command prints nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended."""

    returncode: int | None  # None: stopped by the timeout
    tail: tuple[str, ...]  # the last lines of output, for error messages


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left — even if a second Ctrl-C
    interrupts the grace period."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=_GRACE_S)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_command(
    command: str | Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout: float | None,
    on_line: Callable[[str], None],
    tail_lines: int = 20,
) -> Outcome:
    """Run ``command`` (a shell string or an argv list) to completion or timeout."""
    log.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    proc = subprocess.Popen(
        command,
        shell=isinstance(command, str),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert proc.stdout is not None

    def pump() -> None:
        assert proc.stdout is not None
        with log.open("ab") as sink:
            for raw in iter(proc.stdout.readline, b""):
                sink.write(raw)
                sink.flush()
                line = raw.decode(errors="replace").rstrip("\n")
                tail.append(line)
                del tail[:-tail_lines]
                with contextlib.suppress(Exception):  # a broken display must not stop the draining
                    on_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        returncode: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        returncode = None
    except BaseException:  # Ctrl-C or SIGTERM: take the whole process group down with us
        _stop(proc)
        raise
    finally:
        reader.join(timeout=_GRACE_S)
    return Outcome(returncode, tuple(tail))
