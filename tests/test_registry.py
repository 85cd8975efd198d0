"""Registering versions: lineage, dedupe, directories, references and lookup errors."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import pytest

from conftest import git, git_repo, write_model_file
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.refs import parse_ref
from shipyard.registry import RegisterOptions, register, requirements_of, resolve
from shipyard.store import Stores


def options(**kwargs: Any) -> RegisterOptions:
    """Options for registering stand-in bytes: no model library is asked to read them."""
    return RegisterOptions(flavor="sklearn", infer_signature=False, **kwargs)


def test_version_records_git_commit_branch_and_dirty_flag(stores: Stores, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "project")
    write_model_file(repo / "train.py", b"print('train')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "--quiet", "-m", "train")
    git(repo, "checkout", "--quiet", "-b", "feature/better")
    commit = git(repo, "rev-parse", "HEAD")
    model = write_model_file(repo / "model.skops", b"v1")  # untracked: the tree is dirty

    first = register(stores, model, "digits", options(project_dir=repo)).version
    assert first.lineage.git_commit == commit
    assert first.lineage.git_branch == "feature/better"
    assert first.lineage.git_dirty is True

    (repo / ".gitignore").write_text("model.skops\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "--quiet", "-m", "ignore model")
    model.write_bytes(b"v2")
    second = register(stores, model, "digits", options(project_dir=repo)).version
    assert second.lineage.git_dirty is False
    assert second.lineage.git_commit == git(repo, "rev-parse", "HEAD") != commit


def test_outside_git_lineage_has_no_commit(stores: Stores, tmp_path: Path) -> None:
    model = write_model_file(tmp_path / "plain" / "model.skops", b"v1")
    lineage = register(stores, model, "digits", options()).version.lineage
    assert (lineage.git_commit, lineage.git_branch, lineage.git_dirty) == (None, None, None)


def test_version_records_params_metrics_tags_environment_and_creator(
    stores: Stores, tmp_path: Path
) -> None:
    model = write_model_file(tmp_path / "model.skops", b"weights")
    opts = options(
        params={"C": 1.0, "solver": "lbfgs"},
        metrics={"accuracy": 0.97},
        tags={"team": "ml"},
        actor="alice",
        data_digests={"train": "sha256:" + "0" * 64},
    )
    v = register(stores, model, "digits", opts).version
    assert (v.version, v.created_by) == (1, "alice")
    assert v.params == {"C": 1.0, "solver": "lbfgs"}
    assert v.metrics == {"accuracy": 0.97}
    assert v.tags == {"team": "ml"}
    assert v.lineage.python == platform.python_version()
    assert v.lineage.data_digests == {"train": "sha256:" + "0" * 64}
    pins = requirements_of(stores, v).splitlines()
    assert any(line.startswith("pydantic==") for line in pins)
    assert pins == sorted(pins, key=str.lower)
    assert v.artifacts[0].path == "model.skops"
    assert stores.artifacts.read_bytes(v.artifacts[0].digest) == b"weights"
    stored = stores.metadata.get_version("digits", 1)
    assert stored == v


def test_registering_identical_content_returns_existing_version(
    stores: Stores, tmp_path: Path
) -> None:
    model = write_model_file(tmp_path / "model.skops", b"same bytes")
    first = register(stores, model, "digits", options(metrics={"accuracy": 0.9}))
    copy = write_model_file(tmp_path / "elsewhere" / "model.skops", b"same bytes")
    again = register(stores, copy, "digits", options(metrics={"accuracy": 0.1}))
    assert first.created and not again.created
    assert again.version.version == 1
    assert again.version.metrics == {"accuracy": 0.9}
    assert len(stores.metadata.list_versions("digits")) == 1
    # the same bytes under another model name are that model's own version 1
    other = register(stores, model, "digits-copy", options())
    assert other.created and other.version.version == 1


def test_directory_registration_stores_every_file_and_ignores_litter(
    stores: Stores, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    write_model_file(bundle / "model.skops", b"weights")
    write_model_file(bundle / "vocab" / "words.txt", b"a\nb\n")
    write_model_file(bundle / "__pycache__" / "x.pyc", b"junk")
    v = register(stores, bundle, "digits", options()).version
    assert [a.path for a in v.artifacts] == ["model.skops", "vocab/words.txt"]
    assert v.entrypoint == "model.skops"


def test_flavor_is_detected_from_the_file(stores: Stores, tmp_path: Path) -> None:
    model = write_model_file(tmp_path / "net.onnx", b"not really onnx")
    v = register(stores, model, "net", RegisterOptions(infer_signature=False)).version
    assert (v.flavor, v.entrypoint) == ("onnx", "net.onnx")


def test_unrecognised_file_and_missing_path_are_clear_errors(
    stores: Stores, tmp_path: Path
) -> None:
    odd = write_model_file(tmp_path / "model.weird", b"?")
    with pytest.raises(InvalidInputError, match="cannot tell which flavor"):
        register(stores, odd, "digits", RegisterOptions(infer_signature=False))
    with pytest.raises(NotFoundError, match="no such file"):
        register(stores, tmp_path / "absent.skops", "digits", options())
    with pytest.raises(InvalidInputError, match="invalid model name"):
        register(stores, odd, "Bad Name!", options())
    assert stores.metadata.list_models() == []


def test_references_resolve_number_alias_and_latest(stores: Stores, tmp_path: Path) -> None:
    for i in range(3):
        register(
            stores, write_model_file(tmp_path / f"m{i}.skops", bytes([i])), "digits", options()
        )
    stores.metadata.move_alias("digits", "production", 2, action="set", actor="t", reason="")
    assert resolve(stores, parse_ref("digits:1")).version == 1
    assert resolve(stores, parse_ref("digits@production")).version == 2
    assert resolve(stores, parse_ref("digits")).version == 3


def test_unknown_model_version_and_alias_say_what_exists(stores: Stores, tmp_path: Path) -> None:
    register(stores, write_model_file(tmp_path / "m.skops", b"x"), "digits", options())
    with pytest.raises(NotFoundError, match="unknown model 'nope'"):
        resolve(stores, parse_ref("nope"))
    with pytest.raises(NotFoundError, match="no version 9") as err:
        resolve(stores, parse_ref("digits:9"))
    assert err.value.hint == "its versions are 1 to 1"
    with pytest.raises(NotFoundError, match="no alias 'staging'"):
        resolve(stores, parse_ref("digits@staging"))
    with pytest.raises(InvalidInputError, match="invalid version"):
        parse_ref("digits:zero")


def test_entrypoint_must_be_one_of_the_registered_files(stores: Stores, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    write_model_file(bundle / "a.skops", b"a")
    write_model_file(tmp_path / "outside.skops", b"outside")
    for entrypoint in ("b.skops", "../outside.skops"):
        with pytest.raises(InvalidInputError, match="is not one of the files being registered"):
            register(stores, bundle, "digits", options(entrypoint=entrypoint))
    with pytest.raises(InvalidInputError, match=r"model\.py is not one of the files"):
        register(
            stores,
            bundle,
            "digits",
            RegisterOptions(flavor="custom", entrypoint="model:M", infer_signature=False),
        )
    assert stores.metadata.list_models() == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_metrics_must_be_finite_numbers(stores: Stores, tmp_path: Path, value: float) -> None:
    model = write_model_file(tmp_path / "m.skops", b"x")
    with pytest.raises(InvalidInputError, match="a metric must be a finite number"):
        register(stores, model, "digits", options(metrics={"accuracy": value}))
    assert stores.metadata.list_models() == []


def test_params_that_json_cannot_hold_are_refused(stores: Stores, tmp_path: Path) -> None:
    model = write_model_file(tmp_path / "m.skops", b"x")
    with pytest.raises(InvalidInputError, match="params cannot be stored"):
        register(stores, model, "digits", options(params={"n": 10**30}))
    assert stores.metadata.list_models() == []


def test_registering_known_content_returns_before_loading_the_model(
    stores: Stores, tmp_path: Path
) -> None:
    bundle = tmp_path / "custom"
    marker = tmp_path / "imported"
    write_model_file(
        bundle / "model.py",
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "class M:\n    def load(self, path): pass\n    def predict(self, x): return x\n".encode(),
    )
    opts = RegisterOptions(flavor="custom", entrypoint="model:M")
    assert register(stores, bundle, "m", opts).created
    assert marker.exists()  # signature inference imported the model's code
    marker.unlink()
    again = register(stores, bundle, "m", opts)
    assert (again.created, again.version.version) == (False, 1)
    assert not marker.exists()
