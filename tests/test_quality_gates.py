"""Quality gates: parsing and judging, including champion-relative bounds and NaN."""

from __future__ import annotations

import math

import pytest

from shipyard.errors import SpecError
from shipyard.expressions.quality_gates import evaluate, parse_gate
from shipyard.spec import parse_spec


def test_absolute_gate_passes_and_fails_on_the_bound() -> None:
    gate = parse_gate("accuracy >= 0.95")
    assert evaluate(gate, {"accuracy": 0.95}, None).passed
    verdict = evaluate(gate, {"accuracy": 0.9499}, None)
    assert (verdict.passed, verdict.required, verdict.got) == (False, ">= 0.95", 0.9499)


def test_champion_relative_gate_uses_the_champion_on_the_same_data() -> None:
    gate = parse_gate("accuracy >= champion - 0.005")
    assert gate.relative and gate.margin == -0.005
    assert evaluate(gate, {"accuracy": 0.966}, {"accuracy": 0.97}).passed
    worse = evaluate(gate, {"accuracy": 0.964}, {"accuracy": 0.97})
    assert not worse.passed and "champion 0.97" in worse.required


def test_relative_gate_passes_when_there_is_no_champion_yet() -> None:
    verdict = evaluate(parse_gate("accuracy >= champion"), {"accuracy": 0.5}, None)
    assert verdict.passed and verdict.note == "no champion to compare with"


@pytest.mark.parametrize("text", ["accuracy >= 0.5", "size_mb <= 100", "accuracy >= champion"])
def test_nan_never_passes_a_gate(text: str) -> None:
    metric = text.split()[0]
    verdict = evaluate(parse_gate(text), {metric: math.nan}, {metric: 0.9})
    assert not verdict.passed and "NaN" in verdict.note


def test_missing_metric_fails() -> None:
    verdict = evaluate(parse_gate("f1_macro >= 0.5"), {"accuracy": 0.9}, None)
    assert not verdict.passed and verdict.note == "metric was not computed"


def test_lower_is_better_gates_and_cv_metrics_parse() -> None:
    assert evaluate(parse_gate("latency_p95_ms <= 5"), {"latency_p95_ms": 4.2}, None).passed
    assert parse_gate("cv.f1_macro > 0.9").metric == "cv.f1_macro"
    with pytest.raises(ValueError, match="not of the form"):
        parse_gate("accuracy is great")


SPEC = """\
model:
  name: digits
train:
  command: python train.py
validate:
  data: model:load_data
  metrics: [accuracy]
  gates:
    - accuracy >= 0.9
    - precision >= 0.9
"""


def test_a_gate_naming_an_unknown_metric_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(SPEC)
    assert "shipyard.yaml:6:3: validate: gate 'precision >= 0.9' names metric 'precision'" in (
        err.value.message
    )
