"""Where a project's spec file is: light to import (no YAML, no pydantic)."""

from __future__ import annotations

from pathlib import Path

from shipyard.errors import SpecError

SPEC_FILE = "shipyard.yaml"


def find_spec(start: Path) -> Path | None:
    """The nearest ``shipyard.yaml`` in ``start`` or a parent directory."""
    for directory in (start, *start.parents):
        candidate = directory / SPEC_FILE
        if candidate.is_file():
            return candidate
    return None


def read_spec(path: Path) -> str:
    """A spec file's text; a file that is missing or unreadable is a ``SpecError``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file", hint="run `shipyard init` to create one") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot be read: {err}") from None
