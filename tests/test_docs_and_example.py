"""The README's generated CLI reference is current, and the digits example works end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import shipyard
from conftest import Result

ROOT = Path(__file__).resolve().parent.parent


def test_readme_cli_reference_matches_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    readme = (ROOT / "README.md").read_text()
    for command in ("shipyard alias rollback", "shipyard models versions", "shipyard events"):
        assert f"`{command}`" in readme


def test_digits_example_trains_registers_and_loads_back(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    project = tmp_path / "digits"
    shutil.copytree(
        ROOT / "examples" / "digits",
        project,
        ignore=shutil.ignore_patterns(".shipyard", "model.skops", "metrics.json"),
    )
    trained = subprocess.run(
        [sys.executable, "train.py"], cwd=project, capture_output=True, text=True, check=False
    )
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads((project / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9

    monkeypatch.chdir(project)
    result = cli("register", "--alias", "production", "--reason", "example")
    assert result.code == 0, result.err
    shown = json.loads(cli("models", "show", "digits@production", "--json").out)
    assert shown["metrics"] == metrics
    assert shown["params"]["C"] == 0.1
    assert shown["signature"]["inputs"] == [
        {"name": "input-0", "datatype": "FP32", "shape": [-1, 64]}
    ]

    model = shipyard.load_model("digits@production", home=home)
    features, labels = load_digits(return_X_y=True)
    accuracy = float((model.predict(features.astype(np.float32)) == labels).mean())
    assert accuracy > 0.95


def test_scaffolded_project_trains_and_registers_as_is(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "my-model"
    assert cli("init", str(project)).code == 0
    trained = subprocess.run(
        [sys.executable, "train.py"], cwd=project, capture_output=True, text=True, check=False
    )
    assert trained.returncode == 0, trained.stderr
    monkeypatch.chdir(project)
    assert cli("register").code == 0
    shown = json.loads(cli("models", "show", "my-model", "--json").out)
    assert shown["metrics"]["accuracy"] > 0.8
    assert shown["params"] == {"C": 1.0, "max_iter": 500}
    assert shown["lineage"]["git_branch"] == "main"
