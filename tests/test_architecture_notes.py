"""The architecture notes name only files that exist: a module that moves or goes takes
its notes with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "shipyard"
NOTES = sorted((ROOT / "architecture").glob("*.md"))
PATH = re.compile(r"`((?:[a-z0-9_]+/)*[a-z0-9_]+\.py|(?:[a-z0-9_]+/)+)`")


def _exists(named: str) -> bool:
    """``tests/x.py`` from the checkout's root, ``pkg/x.py`` or ``shipyard/x.py`` in the
    package, a bare ``x.py`` anywhere in it."""
    if named.endswith("/"):
        return (PACKAGE / named).is_dir() or (ROOT / named).is_dir()
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


@pytest.mark.parametrize("note", NOTES, ids=[n.name for n in NOTES])
def test_a_note_says_which_modules_it_describes(note: Path) -> None:
    lines = note.read_text().splitlines()
    modules = next((line for line in lines[:4] if line.startswith("**Modules.**")), None)
    assert modules is not None, f"{note.name}: no **Modules.** line under its title"
    assert PATH.findall(modules), f"{note.name}: its **Modules.** line names no module"


def test_the_notes_name_modules_at_all() -> None:
    assert len(NOTES) >= 10
    assert sum(len(PATH.findall(n.read_text())) for n in NOTES) >= 50
