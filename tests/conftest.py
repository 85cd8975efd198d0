"""Shared fixtures: an isolated SHIPYARD_HOME, opened stores, and an in-process CLI runner."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from browser_helpers import browser, page  # noqa: F401  (fixtures)
from postgres_helpers import postgres_server, postgres_url  # noqa: F401  (fixtures)
from shipyard.store import Stores, open_stores

# The CLIs the tests start write to pipes, as in CI; a terminal's size (which pytest-xdist's
# workers pass on as COLUMNS=80) must not wrap or cut what the tests read.
for _variable in ("COLUMNS", "LINES"):
    os.environ.pop(_variable, None)


# The longest files (real images, clusters of servers, Keras training), slowest first: `make
# test` hands whole files to its workers in collection order, and a long file handed out
# last would run alone at the end while the other workers sit idle.
LONGEST_FIRST = (
    "test_image.py",
    "test_deploy.py",
    "test_keras_examples.py",
    "test_serving_traffic.py",
    "test_team_ci.py",
    "test_validate_stage.py",
    "test_hooks.py",
    "test_monitor_prometheus.py",
    "test_serving_startup.py",
    "test_team_mode.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect the ``LONGEST_FIRST`` files first, in that order; the rest as they were."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # a stable sort


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state directory, also exported as SHIPYARD_HOME for the CLI."""
    path = tmp_path / "home"
    monkeypatch.setenv("SHIPYARD_HOME", str(path))
    monkeypatch.setenv("SHIPYARD_ACTOR", "tester")
    monkeypatch.setenv("COLUMNS", "200")
    return path


@pytest.fixture
def stores(home: Path) -> Iterator[Stores]:
    """The stores under ``home``."""
    opened = open_stores(home)
    yield opened
    opened.close()


@dataclass
class Result:
    """What a CLI invocation did."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Result]]:
    """Run ``shipyard ARGS`` in-process through the real entry point (error handling included)."""

    from shipyard.cli import common  # imported after the environment is reset, above
    from shipyard.cli.main import main

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["shipyard", *args])
        common.SETTINGS.home = None
        common.SETTINGS.debug = False
        code = 0
        try:
            main()
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run


def write_model_file(path: Path, content: bytes) -> Path:
    """A stand-in model file with the given bytes (for registry tests that load nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def git(cwd: Path, *args: str) -> str:
    """Run real git in ``cwd`` and return its output."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def git_repo(path: Path) -> Path:
    """A real git work tree with an identity, on branch main."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    return path


def committed_project(path: Path, files: dict[str, str]) -> Path:
    """A git work tree (``git_repo``) holding ``files`` (relative name → text), committed."""
    root = git_repo(path)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", ".")
    git(root, "commit", "-qm", "project")
    return root


def without_delivery(project: Path) -> None:
    """Drop the example spec's ``deploy`` and ``verify`` sections (the last ones, with the
    comment above them): tests of training and validation do not start deployments."""
    spec = project / "shipyard.yaml"
    lines = spec.read_text().splitlines()
    cut = next((i for i, line in enumerate(lines) if line.startswith("deploy:")), len(lines))
    while cut > 0 and (lines[cut - 1].startswith("#") or not lines[cut - 1].strip()):
        cut -= 1
    spec.write_text("\n".join(lines[:cut]) + "\n")


def example_project(path: Path, name: str, *, port: int | None = None) -> Path:
    """A copy of ``examples/NAME`` in a git work tree of its own at ``path``, committed,
    without its deploy and verify sections (``without_delivery``), or, given a ``port``,
    with them, deploying on that port."""
    project = git_repo(path)
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "examples" / name,
        project,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(
            ".shipyard", "model.skops", "model.keras", "model", "metrics.json"
        ),
    )
    if port is None:
        without_delivery(project)
    else:
        spec = project / "shipyard.yaml"
        text = re.sub(r"(?m)^  port: \d+\n", "", spec.read_text())
        spec.write_text(text.replace("\ndeploy:\n", f"\ndeploy:\n  port: {port}\n", 1))
    (project / ".gitignore").write_text(
        "model.skops\nmodel.keras\nmodel/\nmetrics.json\n.shipyard/\n"
    )
    git(project, "add", ".")
    git(project, "commit", "-qm", name)
    return project
