"""Facts about an operating-system process and its log: whether a recorded process is
still the same one, and the end of its log. Standard library only."""

from __future__ import annotations

import os
from pathlib import Path


def boot_id(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def tail(log: Path, lines: int = 20) -> list[str]:
    """The last lines of a log (to explain why it stopped)."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
