"""The CLI as a user types it: the commands of the Foundation issue, output, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Result, git, write_model_file

Cli = Callable[..., Result]


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    return write_model_file(tmp_path / "model.skops", b"stand-in model bytes")


def register(cli: Cli, path: Path, *extra: str) -> Result:
    result = cli(
        "register",
        str(path),
        "--name",
        "digits",
        "--flavor",
        "sklearn",
        "--no-infer-signature",
        *extra,
    )
    assert result.code == 0, result.err
    return result


def test_init_scaffolds_a_project_in_a_new_git_repo(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "my-model"
    result = cli("init", str(target))
    assert result.code == 0, result.err
    assert {p.name for p in target.iterdir()} >= {
        "shipyard.yaml",
        "model.py",
        "train.py",
        ".gitignore",
        ".git",
    }
    assert git(target, "rev-parse", "--is-inside-work-tree") == "true"
    assert "name: my-model" in (target / "shipyard.yaml").read_text()
    assert cli("spec", "check", str(target / "shipyard.yaml")).code == 0
    again = cli("init", str(target))
    assert again.code == 2 and "already has shipyard.yaml" in again.err
    compile((target / "train.py").read_text(), "train.py", "exec")


def test_register_records_metrics_params_and_prints_version(cli: Cli, model_file: Path) -> None:
    result = cli(
        "register",
        str(model_file),
        "--name",
        "digits",
        "--flavor",
        "sklearn",
        "--metric",
        "accuracy=0.97",
        "--param",
        "C=1.0",
        "--no-infer-signature",
    )
    assert result.code == 0, result.err
    assert "registered digits v1" in result.out
    shown = json.loads(cli("models", "show", "digits", "1", "--json").out)
    assert shown["metrics"] == {"accuracy": 0.97}
    assert shown["params"] == {"C": 1.0}
    assert shown["flavor"] == "sklearn"
    assert shown["created_by"] == "tester"


def test_register_twice_with_same_content_dedupes(cli: Cli, model_file: Path) -> None:
    register(cli, model_file)
    again = register(cli, model_file)
    assert "identical content is already digits v1" in again.out
    versions = json.loads(cli("models", "versions", "digits", "--json").out)
    assert [v["version"] for v in versions] == [1]


def test_models_list_show_and_versions(cli: Cli, tmp_path: Path) -> None:
    for i in range(3):
        register(
            cli, write_model_file(tmp_path / f"m{i}.skops", bytes([i])), "--metric", f"acc=0.{i}"
        )
    cli("alias", "set", "digits", "production", "2")
    listed = cli("models", "list")
    assert "digits" in listed.out and "production→v2" in listed.out
    models = json.loads(cli("models", "list", "--json").out)
    assert models == [
        {
            **models[0],
            "name": "digits",
            "version_count": 3,
            "latest_version": 3,
            "aliases": {"production": 2},
        }
    ]
    versions = json.loads(cli("models", "versions", "digits", "--json").out)
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert all(v["lineage"]["requirements_digest"].startswith("sha256:") for v in versions)
    show = cli("models", "show", "digits", "production")
    assert "digits v2" in show.out and "(production)" in show.out
    assert json.loads(cli("models", "show", "digits@production", "--json").out)["version"] == 2
    assert json.loads(cli("models", "show", "digits", "--json").out)["version"] == 3
    pins = cli("models", "show", "digits", "1", "--requirements").out
    assert "typer==" in pins


def test_alias_set_history_and_rollback(cli: Cli, tmp_path: Path) -> None:
    for i in range(3):
        register(cli, write_model_file(tmp_path / f"m{i}.skops", bytes([i])))
    assert cli("alias", "set", "digits", "production", "1", "--reason", "first").code == 0
    moved = cli("alias", "set", "digits", "production", "3", "--reason", "better accuracy")
    assert "v1 → v3" in moved.out
    back = cli("alias", "rollback", "digits", "production", "--reason", "errors up")
    assert back.code == 0 and "v3 → v1 (rollback)" in back.out
    history = json.loads(cli("alias", "history", "digits", "production", "--json").out)
    assert [(h["from_version"], h["to_version"], h["action"], h["reason"]) for h in history] == [
        (None, 1, "set", "first"),
        (1, 3, "set", "better accuracy"),
        (3, 1, "rollback", "errors up"),
    ]
    assert all(h["actor"] == "tester" and h["at"] for h in history)
    table = cli("alias", "history", "digits", "production").out
    assert "better accuracy" in table and "rollback" in table


def test_events_lists_every_change_and_filters_by_model(cli: Cli, tmp_path: Path) -> None:
    register(cli, write_model_file(tmp_path / "a.skops", b"a"))
    cli(
        "register",
        str(write_model_file(tmp_path / "b.skops", b"b")),
        "--name",
        "other",
        "--flavor",
        "sklearn",
        "--no-infer-signature",
    )
    cli("alias", "set", "digits", "production", "1", "--reason", "ship it")
    events = json.loads(cli("events", "--model", "digits", "--json").out)
    assert [e["kind"] for e in events] == ["model.created", "model.version.registered", "alias.set"]
    assert events[-1]["data"]["reason"] == "ship it"
    every = json.loads(cli("events", "--json").out)
    assert {e["model"] for e in every} == {"digits", "other"}
    assert "production: unset → v1 — ship it" in cli("events").out


def test_user_errors_exit_with_their_code_and_no_traceback(cli: Cli, model_file: Path) -> None:
    register(cli, model_file)
    cases = [
        (("models", "show", "nope"), 4, "unknown model 'nope'"),
        (("models", "show", "digits", "7"), 4, "has no version 7"),
        (("alias", "set", "digits", "production", "9"), 4, "has no version 9"),
        (("alias", "rollback", "digits", "production"), 4, "no alias 'production'"),
        (
            ("register", str(model_file), "--name", "digits", "--metric", "acc=high"),
            2,
            "a metric must be a number",
        ),
        (("register", str(model_file) + ".missing", "--name", "digits"), 4, "no such file"),
        (("models", "show", "Bad/Name"), 2, "invalid model name"),
        (("models", "show", "digits:99999999999999999999"), 2, "invalid version"),
        (
            ("register", str(model_file), "--name", "digits", "--metric", "acc=nan"),
            2,
            "a metric must be a finite number",
        ),
    ]
    for args, code, message in cases:
        result = cli(*args)
        assert (result.code, message in result.err) == (code, True), (args, result)
        assert "Traceback" not in result.err
        assert "hint:" in result.err or code == 2


def test_register_with_an_invalid_alias_registers_nothing(cli: Cli, model_file: Path) -> None:
    result = cli(
        "register",
        str(model_file),
        "--name",
        "digits",
        "--flavor",
        "sklearn",
        "--no-infer-signature",
        "--alias",
        "Prod!",
    )
    assert result.code == 2 and "invalid alias 'Prod!'" in result.err
    assert json.loads(cli("models", "list", "--json").out) == []


def test_tampered_artifact_fails_verify_with_exit_5(cli: Cli, model_file: Path, home: Path) -> None:
    register(cli, model_file)
    assert cli("models", "verify", "digits").code == 0
    blob = next(
        p
        for p in (home / "artifacts").rglob("*")
        if p.is_file() and p.read_bytes() == b"stand-in model bytes"
    )
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    result = cli("models", "verify", "digits")
    assert result.code == 5
    assert "model.skops" in result.out and "corrupt" in result.out
    download = cli("models", "download", "digits", "--out", str(model_file.parent / "out"))
    assert download.code == 5
    assert not (model_file.parent / "out").exists()


def test_download_writes_verified_files(cli: Cli, model_file: Path, tmp_path: Path) -> None:
    register(cli, model_file)
    out = tmp_path / "download"
    assert cli("models", "download", "digits:1", "--out", str(out)).code == 0
    assert (out / "model.skops").read_bytes() == b"stand-in model bytes"
    assert cli("models", "download", "digits", "--out", str(out)).code == 2


def test_corrupt_database_gives_clear_message_and_is_not_overwritten(cli: Cli, home: Path) -> None:
    home.mkdir(parents=True)
    db = home / "registry.db"
    db.write_bytes(b"garbage" * 1000)
    result = cli("models", "list")
    assert result.code == 6
    assert "not a usable Shipyard database" in result.err and "Traceback" not in result.err
    assert db.read_bytes() == b"garbage" * 1000


def test_spec_typo_is_reported_with_suggestion(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shipyard.yaml").write_text("model:\n  name: digits\n  flavr: sklearn\n")
    monkeypatch.chdir(tmp_path)
    result = cli("spec", "check")
    assert result.code == 2
    assert "shipyard.yaml:3:3: unknown key 'flavr' in model — did you mean 'flavor'?" in result.err
    assert cli("register").code == 2


def test_register_in_a_project_takes_name_params_and_metrics_from_the_spec(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "proj"
    assert cli("init", str(project), "--name", "digits").code == 0
    write_model_file(project / "model.skops", b"trained")
    (project / "metrics.json").write_text('{"accuracy": 0.93}')
    monkeypatch.chdir(project)
    result = cli("register", "--no-infer-signature", "--param", "C=2")
    assert result.code == 0, result.err
    shown = json.loads(cli("models", "show", "digits", "--json").out)
    assert shown["params"] == {"C": 2, "max_iter": 500}
    assert shown["metrics"] == {"accuracy": 0.93}
    assert shown["lineage"]["git_dirty"] is True  # a fresh repo with untracked files


def test_registering_a_model_from_outside_the_project_ignores_its_spec(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_file: Path
) -> None:
    project = tmp_path / "proj"
    assert cli("init", str(project), "--name", "digits").code == 0
    (project / "metrics.json").write_text('{"accuracy": 0.93}')
    monkeypatch.chdir(project)
    result = cli(
        "register",
        str(model_file),
        "--name",
        "other",
        "--flavor",
        "sklearn",
        "--no-infer-signature",
    )
    assert result.code == 0, result.err
    shown = json.loads(cli("models", "show", "other", "--json").out)
    assert (shown["metrics"], shown["params"], shown["description"]) == ({}, {}, "")


def test_os_errors_are_reported_without_traceback(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli("init", str(blocker / "proj"))
    assert result.code == 1
    assert "Not a directory" in result.err and "Traceback" not in result.err
    home_is_file = cli("--home", str(blocker), "models", "list")
    assert home_is_file.code == 6 and "cannot use" in home_is_file.err


def test_home_option_works_before_or_after_the_command(
    cli: Cli, tmp_path: Path, model_file: Path
) -> None:
    other = tmp_path / "other-home"
    assert (
        cli(
            "--home",
            str(other),
            "register",
            str(model_file),
            "--name",
            "a",
            "--flavor",
            "sklearn",
            "--no-infer-signature",
        ).code
        == 0
    )
    after = json.loads(cli("models", "list", "--json", "--home", str(other)).out)
    assert [m["name"] for m in after] == ["a"]
    assert json.loads(cli("models", "list", "--json").out) == []


def test_spec_schema_prints_json_schema(cli: Cli) -> None:
    schema = json.loads(cli("spec", "schema").out)
    assert schema["title"] == "shipyard.yaml"


def test_installed_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    shipyard = Path(sys.executable).parent / "shipyard"
    proc = subprocess.run(
        [str(shipyard), "--home", str(tmp_path), "alias", "history", "ghost"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 4
    assert "error: unknown model 'ghost'" in proc.stderr
    assert "Traceback" not in proc.stderr
    help_text = subprocess.run([str(shipyard), "--help"], capture_output=True, text=True).stdout
    for command in ("init", "register", "models", "alias", "events", "spec"):
        assert command in help_text
