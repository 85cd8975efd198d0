"""The architecture notes name only files that exist: a module that moves or goes takes
its notes with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "shipyard"
NOTES = sorted((ROOT / "architecture").glob("*.md"))
PATH = re.compile(r"`((?:[a-z0-9_]+/)*[a-z0-9_]+\.py)`")


def _exists(named: str) -> bool:
    """``tests/x.py`` from the checkout's root, ``pkg/x.py`` or ``shipyard/x.py`` in the
    package, a bare ``x.py`` anywhere in it."""
    if "/" not in named:
        return any(PACKAGE.rglob(named))
    if named.startswith("shipyard/"):
        return (PACKAGE.parent / named).is_file()
    return (ROOT / named).is_file() or (PACKAGE / named).is_file()


@pytest.mark.parametrize("note", NOTES, ids=[n.name for n in NOTES])
def test_a_note_names_only_modules_that_exist(note: Path) -> None:
    named = PATH.findall(note.read_text())
    missing = sorted({n for n in named if not _exists(n)})
    assert missing == [], f"{note.name} names files that do not exist: {missing}"


def test_the_notes_name_modules_at_all() -> None:
    assert len(NOTES) >= 10
    assert sum(len(PATH.findall(n.read_text())) for n in NOTES) >= 50
