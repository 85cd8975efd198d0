"""Where a project's spec file is: light to import (no YAML, no pydantic)."""

from __future__ import annotations

from pathlib import Path

SPEC_FILE = "shipyard.yaml"


def find_spec(start: Path) -> Path | None:
    """The nearest ``shipyard.yaml`` in ``start`` or a parent directory."""
    for directory in (start, *start.parents):
        candidate = directory / SPEC_FILE
        if candidate.is_file():
            return candidate
    return None
