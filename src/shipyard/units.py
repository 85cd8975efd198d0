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
        return _bounded(float(value), value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"expected a duration such as 250ms, 30s, 5m or 1h, got {value!r}")
    return _bounded(float(match.group(1)) * _SECONDS[match.group(2) or "s"], value)


_LONGEST = 10 * 365 * 86400.0  # ten years: anything longer is a typo


def _bounded(seconds: float, given: object) -> float:
    if not seconds <= _LONGEST:  # also catches inf and nan
        raise ValueError(f"a duration of at most 10 years, got {given!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``4m05s`` — short and readable."""
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_BYTES = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(value: str) -> int:
    """Bytes from ``512MiB``, ``2GiB``, ``1.5GB``, ``800M`` or a bare number of bytes."""
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"expected a size such as 512MiB or 2GiB, got {value!r}")
    unit = (match.group(2) or "").lower()
    binary = "i" in unit
    base = 1024 ** " kmgt".index(unit[0]) if binary else _BYTES[unit[:1]]
    return int(float(match.group(1)) * base)
