"""Quantities with units as users write them in specs and on the command line."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float) -> float:
    """Seconds from ``250ms``, ``30s``, ``5m``, ``1.5h``, ``2d`` or a bare number of seconds.

    Raises ``ValueError`` (with the accepted forms) for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s or 5m, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"expected a duration such as 250ms, 30s, 5m or 1h, got {value!r}")
    return float(match.group(1)) * _SECONDS[match.group(2) or "s"]


def format_duration(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``4m05s`` — short and readable."""
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
