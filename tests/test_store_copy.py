"""``shipyard store copy``: a one-machine registry moved into a team's store, as recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Result
from moto_helpers import MotoS3
from moto_helpers import moto_s3_fixture as moto_s3_fixture
from moto_helpers import s3_credentials_fixture as s3_credentials_fixture
from shipyard.registry import RegisterOptions, register
from shipyard.registry.aliases import rollback_alias, set_alias
from shipyard.store import Stores, open_stores


def _versions(stores: Stores, tmp_path: Path, count: int) -> None:
    for n in range(1, count + 1):
        source = tmp_path / f"model-{n}"
        source.mkdir()
        (source / "model.py").write_text(f"class M:\n    value = {n}\n")
        options = RegisterOptions(flavor="custom", entrypoint="model:M", metrics={"acc": n / 10})
        register(stores, source, "toy", options)


def test_a_home_copied_into_postgres_and_s3_keeps_numbers_times_history_and_blobs(
    stores: Stores,
    tmp_path: Path,
    home: Path,
    postgres_url: str,
    moto_s3: MotoS3,
    s3_credentials: None,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint)
    _versions(stores, tmp_path, 3)
    set_alias(stores, "toy", "production", 1, reason="first")
    set_alias(stores, "toy", "production", 3, reason="better")
    rollback_alias(stores, "toy", "production", reason="bad")
    bucket = moto_s3.url()
    copied = cli("store", "copy", "--from", str(home), "--to", postgres_url,
                 "--artifacts", bucket, "--json")  # fmt: skip
    assert copied.code == 0, copied.err
    report = json.loads(copied.out)
    assert (report["versions"], report["alias_moves"]) == (3, 3) and report["blobs"] >= 4

    team = open_stores(tmp_path / "team-home", metadata=postgres_url, artifacts=bucket)
    try:
        before, after = stores.metadata.list_versions("toy"), team.metadata.list_versions("toy")
        assert after == before  # numbers, times, digests, lineage: all as recorded
        assert team.metadata.resolve_alias("toy", "production") == 1
        moves = [
            (m.action, m.to_version, m.at, m.reason) for m in team.metadata.alias_history("toy")
        ]
        assert moves == [
            (m.action, m.to_version, m.at, m.reason) for m in stores.metadata.alias_history("toy")
        ]
        kinds = [e.kind for e in team.metadata.list_events(model="toy")]
        assert kinds.count("model.version.registered") == 3 and "alias.rollback" in kinds
        for artifact in after[2].artifacts:  # every blob is there, and verified on read
            team.artifacts.verify(artifact.digest)
    finally:
        team.close()

    again = cli("store", "copy", "--from", str(home), "--to", postgres_url,
                "--artifacts", bucket, "--json")  # fmt: skip
    assert again.code == 0, again.err
    rerun = json.loads(again.out)
    assert (rerun["versions"], rerun["events"], rerun["blobs"], rerun["skipped_versions"]) == (
        0, 0, 0, 3,
    )  # fmt: skip


def test_a_copy_into_a_store_with_other_content_under_the_same_version_is_refused(
    stores: Stores, tmp_path: Path, home: Path, cli: Callable[..., Result]
) -> None:
    _versions(stores, tmp_path, 2)
    other = tmp_path / "other-home"
    theirs = open_stores(other)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.py").write_text("class M:\n    value = 'theirs'\n")
    register(theirs, elsewhere, "toy", RegisterOptions(flavor="custom", entrypoint="model:M"))
    events_before = len(theirs.metadata.list_events())
    theirs.close()
    refused = cli("store", "copy", "--from", str(home), "--to", str(other))
    assert refused.code == 8
    assert "toy v1" in refused.err and "nothing was copied" in refused.err
    theirs = open_stores(other)
    try:
        assert [v.version for v in theirs.metadata.list_versions("toy")] == [1]
        assert len(theirs.metadata.list_events()) == events_before
    finally:
        theirs.close()


def test_a_url_without_artifacts_is_refused_with_what_to_give(
    home: Path, cli: Callable[..., Result], postgres_url: str
) -> None:
    refused = cli("store", "copy", "--from", str(home), "--to", postgres_url)
    assert refused.code == 2 and "--artifacts" in refused.err
    assert "Traceback" not in refused.err
