"""Pages from Jinja2 templates, every value escaped unless a template says otherwise
(none does: model names, tags, reasons and params are the users' own strings)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2


def short(digest: str | None, length: int = 12) -> str:
    """``sha256:0123…`` → its first ``length`` hex digits."""
    return (digest or "").removeprefix("sha256:")[:length]


def when(stamp: str | float | None) -> str:
    """An ISO time, or seconds since the epoch, as ``2026-12-03 19:05:10`` (UTC), the way
    the CLI shows it."""
    if isinstance(stamp, int | float):
        stamp = datetime.fromtimestamp(stamp, UTC).isoformat()
    return (stamp or "").replace("T", " ")[:19]


def duration(seconds: float | None) -> str:
    """Seconds as the CLI says them (``1m 12s``), a dash when not known."""
    from shipyard.units import format_duration

    return "—" if seconds is None else format_duration(seconds)


def left(epoch: float) -> str:
    """The time from now until ``epoch`` (seconds since the epoch), as ``4m 10s``."""
    seconds = max(0, int(epoch - time.time()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def size(count: int | float) -> str:
    """Bytes in the unit a person reads."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@cache
def environment() -> jinja2.Environment:
    """The templates of ``shipyard/ui/templates``, autoescaped, undefined names an error."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("shipyard.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(short=short, when=when, size=size, left=left, duration=duration)
    return env


def page(template: str, **values: Any) -> str:
    """The HTML of one page."""
    return environment().get_template(template).render(**values)
