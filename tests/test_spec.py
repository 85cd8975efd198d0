"""shipyard.yaml: typed parsing and errors that point at the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shipyard.errors import SpecError
from shipyard.spec import json_schema, load_spec, parse_spec
from shipyard.spec.load import _parse_yaml

GOOD = """\
model:
  name: digits
  flavor: sklearn
  path: model.skops
train:
  command: python train.py
  params:
    C: 0.1
    max_iter: 1000
"""


def test_valid_spec_parses_into_typed_models() -> None:
    spec = parse_spec(GOOD)
    assert spec.model.name == "digits"
    assert spec.model.flavor == "sklearn"
    assert spec.train is not None
    assert spec.train.params == {"C": 0.1, "max_iter": 1000}
    assert spec.train.metrics == "metrics.json"


def test_typo_in_a_key_names_file_line_and_suggests_the_right_key() -> None:
    text = GOOD.replace("train:", "trian:")
    with pytest.raises(SpecError) as err:
        parse_spec(text, "examples/shipyard.yaml")
    assert "examples/shipyard.yaml:5:1: unknown key 'trian' in the top level" in err.value.message
    assert "did you mean 'train'?" in err.value.message


def test_nested_typo_is_found_on_its_own_line() -> None:
    text = GOOD.replace("  flavor: sklearn", "  flavour: sklearn")
    with pytest.raises(
        SpecError,
        match=r"shipyard.yaml:3:3: unknown key 'flavour' in model — did you mean 'flavor'\?",
    ):
        parse_spec(text)


def test_wrong_value_names_the_field_path_and_what_was_expected() -> None:
    text = GOOD.replace("flavor: sklearn", "flavor: sklern")
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert "shipyard.yaml:3:11: model.flavor:" in err.value.message
    assert "'sklearn'" in err.value.message


def test_missing_required_key_and_bad_model_name_are_reported_together() -> None:
    text = "model:\n  name: Digits!\ntrain:\n  params: {}\n"
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    lines = err.value.message.splitlines()
    assert any(
        line.startswith("shipyard.yaml:2:9: model.name: invalid model name") for line in lines
    )
    assert any(
        line.startswith("shipyard.yaml:4:3: train: give exactly one of 'command' or 'function'")
        for line in lines
    )


def test_invalid_yaml_reports_line_and_column() -> None:
    with pytest.raises(SpecError, match=r"shipyard.yaml:3:10: invalid YAML: mapping values"):
        parse_spec("model:\n  name: digits\n  path: a: b\n")


@pytest.mark.parametrize(
    "spec", sorted(Path(__file__).parent.parent.glob("examples/*/shipyard.yaml")), ids=str
)
def test_every_example_spec_reads_the_same_through_libyaml_as_through_pyyaml(spec: Path) -> None:
    text = spec.read_text()
    root, data = _parse_yaml(text)
    assert data == yaml.safe_load(text)
    pure = yaml.compose(text, Loader=yaml.SafeLoader)
    assert [k.start_mark.line for k, _ in root.value] == [k.start_mark.line for k, _ in pure.value]


def test_non_scalar_param_gets_one_error_not_one_per_union_member() -> None:
    text = GOOD.replace("C: 0.1", "C: [0.1, 1.0]")
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert err.value.message.splitlines() == [
        "shipyard.yaml:8:8: train.params.C: expected a string, number or boolean, got a list"
    ]


def test_duplicate_keys_are_refused_not_silently_overwritten() -> None:
    text = GOOD.replace("  flavor: sklearn\n", "  flavor: sklearn\n  name: other\n")
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert err.value.message == (
        "shipyard.yaml:4:3: duplicate key 'model.name' (first given on line 2)"
    )


@pytest.mark.parametrize("path", ["/etc/hostname", "../outside", "~/x", "data/../../x"])
def test_paths_must_stay_inside_the_project(path: str) -> None:
    text = GOOD + f"stages:\n  s:\n    run: echo\n    outs: [{path!r}]\n"
    with pytest.raises(SpecError, match="must be a path relative to the project directory"):
        parse_spec(text)


def test_empty_or_scalar_spec_is_refused() -> None:
    for text in ("", "just a string\n"):
        with pytest.raises(SpecError, match="expected a mapping"):
            parse_spec(text)


def test_missing_file_suggests_init(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file") as err:
        load_spec(tmp_path / "shipyard.yaml")
    assert "shipyard init" in (err.value.hint or "")


def test_json_schema_describes_the_spec_and_forbids_unknown_keys() -> None:
    schema = json_schema()
    json.dumps(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["required"] == ["model"]
    assert schema["additionalProperties"] is False
    model = schema["$defs"]["ModelSpec"]
    assert set(model["properties"]) >= {"name", "flavor", "path", "entrypoint", "trust"}
