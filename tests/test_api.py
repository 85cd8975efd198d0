"""The Python API for user code: ``shipyard.params`` and ``shipyard.load_model``."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.errors import NotFoundError, SpecError

SPEC = "model:\n  name: digits\ntrain:\n  command: python train.py\n  params: {C: 0.1, seed: 0}\n"


def test_params_come_from_the_nearest_spec(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    nested = tmp_path / "src" / "deep"
    nested.mkdir(parents=True)
    assert shipyard.params(nested) == {"C": 0.1, "seed": 0}


def test_params_environment_override_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    monkeypatch.setenv("SHIPYARD_PARAMS", '{"C": 2.5, "extra": "yes"}')
    assert shipyard.params(tmp_path) == {"C": 2.5, "seed": 0, "extra": "yes"}


def test_params_environment_must_be_a_json_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_PARAMS", "C=2")
    with pytest.raises(SpecError, match="not valid JSON"):
        shipyard.params(tmp_path)
    monkeypatch.setenv("SHIPYARD_PARAMS", "[1, 2]")
    with pytest.raises(SpecError, match="must be a JSON object"):
        shipyard.params(tmp_path)


def test_load_model_of_unknown_model_is_a_clear_error(home: Path) -> None:
    with pytest.raises(NotFoundError, match="unknown model 'ghost'"):
        shipyard.load_model("ghost@production", home=home)
