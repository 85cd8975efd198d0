"""The examples' pipelines end to end: 5-fold CV, gates, champion vs challenger, text input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import shipyard
from conftest import Result, example_project
from shipyard.store import open_stores


def example(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of ``examples/NAME`` in a git repository of its own, as the working directory."""
    project = example_project(tmp_path / name, name)
    monkeypatch.chdir(project)
    return project


@pytest.fixture
def digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return example("digits", tmp_path, monkeypatch)


def stage_statuses(home: Path) -> dict[str, str]:
    stores = open_stores(home)
    try:
        return {s.name: s.status for s in stores.runs.list_runs(limit=1)[0].stages}
    finally:
        stores.close()


def test_worse_model_is_stopped_at_the_gate_and_nothing_is_registered(
    cli: Callable[..., Result], digits: Path, home: Path
) -> None:
    first = cli("run")
    assert first.code == 0, first.err
    assert "registered digits v1 (candidate)" in first.out
    version = json.loads(cli("models", "show", "digits@candidate", "--json").out)
    assert version["metrics"]["cv.accuracy"] > 0.94
    assert version["metrics"]["validate.accuracy"] > 0.95
    opened = open_stores(home)  # the validation inputs' bins, kept for drift checks
    reference = json.loads(opened.artifacts.read_bytes(version["tags"]["shipyard.reference"]))
    opened.close()
    assert reference["rows"] == 1797 and len(reference["features"]) == 64
    reports = digits / ".shipyard" / "reports"
    assert {p.name for p in reports.iterdir()} == {
        "validate.json",
        "reference.json",
        "validate.md",
        "confusion.png",
        "comparison.png",
    }
    assert (reports / "confusion.png").read_bytes().startswith(b"\x89PNG")
    assert "| `accuracy >= 0.95` |" in (reports / "validate.md").read_text()

    assert cli("alias", "set", "digits", "production", "1").code == 0
    worse = cli("run", "--param", "C=0.0005")
    assert worse.code == 3
    assert "quality gate(s) failed; nothing was registered" in worse.err
    assert "accuracy >= champion - 0.005" in worse.err and "FAIL" in worse.err
    assert stage_statuses(home) == {
        "train": "succeeded",
        "validate": "failed",
        "package": "skipped",
        "register": "skipped",
    }
    versions = json.loads(cli("models", "versions", "digits", "--json").out)
    assert [v["version"] for v in versions] == [1]
    assert "champion v1" in (reports / "validate.md").read_text()
    failed_run = json.loads(cli("runs", "list", "--json").out)[0]["id"]
    shown = cli("runs", "show", failed_run)
    assert "accuracy >= champion - 0.005" in shown.out and "FAIL" in shown.out

    # the candidate itself became production (as its rollout does): there is nothing new to
    # judge it against, so back at the spec's params the whole run is cached
    again = cli("run")
    assert again.code == 0, again.err
    assert set(stage_statuses(home).values()) == {"cached"}
    cached_report = json.loads((reports / "validate.json").read_text())

    # another model made production is a champion to beat: validation runs again
    assert cli("run", "--param", "C=0.0005").code == 3  # cached training: the weak model again
    rival = cli("register", "--alias", "production", "--reason", "a rival")
    assert rival.code == 0, rival.err
    assert "digits v2" in rival.out
    challenged = cli("run")
    assert challenged.code == 0, challenged.err
    assert stage_statuses(home) == {
        "train": "cached",
        "validate": "succeeded",
        "package": "cached",
        "register": "cached",
    }
    assert json.loads((reports / "validate.json").read_text())["champion"]["version"] == 2
    # and once v1 is production again, its first judgement stands: cached, the same result
    assert cli("alias", "set", "digits", "production", "1").code == 0
    assert cli("run").code == 0
    assert set(stage_statuses(home).values()) == {"cached"}
    restored = json.loads((reports / "validate.json").read_text())
    assert restored["candidate"] == cached_report["candidate"]
    # a stricter gate is a change: validation runs again, and this time stops the run
    spec = (digits / "shipyard.yaml").read_text()
    (digits / "shipyard.yaml").write_text(spec.replace("accuracy >= 0.95", "accuracy >= 0.999"))
    assert cli("run").code == 3
    assert stage_statuses(home)["validate"] == "failed"


def test_packaging_and_registration_reuse_the_signature_validation_inferred(
    cli: Callable[..., Result], digits: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Validation runs in a worker process of its own and loads the candidate there; this
    # process (packaging, registration) must not load it again to learn its signature.
    from shipyard.flavors.sklearn import SklearnFlavor

    def no_loading(*args: object) -> None:
        raise AssertionError("the model was loaded again for its signature")

    monkeypatch.setattr(SklearnFlavor, "signature", no_loading)
    done = cli("run")
    assert done.code == 0, done.err
    assert "signature not recorded" not in done.out + done.err
    bundle = json.loads((digits / ".shipyard/bundle/manifest.json").read_text())
    version = json.loads(cli("models", "show", "digits:1", "--json").out)
    expected = {"name": "input-0", "datatype": "FP32", "shape": [-1, 64]}
    assert bundle["signature"]["inputs"] == version["signature"]["inputs"] == [expected]

    # other content is another model: nothing kept for it, so it is inferred (here: refused)
    from shipyard.flavors import TrustPolicy
    from shipyard.registry.signatures import inferred_signature

    with pytest.raises(AssertionError, match="loaded again"):
        inferred_signature(home, "sha256:" + "0" * 64, digits, "sklearn", "model.skops",
                           TrustPolicy())  # fmt: skip


def test_sentiment_example_validates_and_registers_a_text_model(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    example("sentiment", tmp_path, monkeypatch)
    result = cli("run")
    assert result.code == 0, result.err
    version = json.loads(cli("models", "show", "sentiment@candidate", "--json").out)
    assert version["signature"]["inputs"] == [
        {"name": "input-0", "datatype": "BYTES", "shape": [-1]}
    ]
    assert version["metrics"]["cv.accuracy"] >= 0.65
    model = shipyard.load_model("sentiment@candidate", home=home)
    predicted = model.predict(
        [
            "Profit soared and the dividend was raised",
            "The firm collapsed into bankruptcy with heavy losses",
        ]
    )
    assert list(predicted) == ["positive", "negative"]
