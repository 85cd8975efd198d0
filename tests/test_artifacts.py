"""What only the local artifact store does (the behaviour every store shares is in
test_artifact_contract.py), and ``open_artifacts``, which picks a store from a location."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shipyard.errors import InvalidInputError
from shipyard.store.local.artifacts import LocalArtifactStore
from shipyard.store.location import open_artifacts
from shipyard.store.s3.artifacts import S3ArtifactStore


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_write_leaves_no_temporary_files_and_blob_is_read_only(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    blob = store.put_bytes(b"payload")
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert [p.name.startswith(".tmp-") for p in files] == [False]
    assert files[0].stat().st_mode & 0o222 == 0
    store.verify(blob.digest)


def test_blob_lives_under_sha256_and_its_first_two_hex_digits(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    blob = store.put_stream(iter([b"streamed"]), digest_of(b"streamed"))
    hexd = blob.digest.removeprefix("sha256:")
    path = tmp_path / "store" / "sha256" / hexd[:2] / hexd[2:]
    assert path.read_bytes() == b"streamed"
    assert path.stat().st_mode & 0o222 == 0


def test_a_copy_out_of_the_store_is_writable_by_its_owner(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    blob = store.put_bytes(b"payload")
    dest = tmp_path / "out.bin"
    store.copy_to(blob.digest, dest)
    assert dest.stat().st_mode & 0o777 == 0o644


def test_open_artifacts_takes_a_path_a_file_url_or_an_s3_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cases = {
        "artifacts": home / "artifacts",
        str(tmp_path / "abs"): tmp_path / "abs",
        f"file://{tmp_path}/from%20url": tmp_path / "from url",
        f"file://localhost{tmp_path}/local": tmp_path / "local",
    }
    for location, root in cases.items():
        store = open_artifacts(location, home)
        assert isinstance(store, LocalArtifactStore) and store.root == root, location
    store = open_artifacts(tmp_path / "as-path", home)
    assert isinstance(store, LocalArtifactStore) and store.root == tmp_path / "as-path"
    s3 = open_artifacts("s3://bucket/team/artifacts", home)  # no network until first use
    assert isinstance(s3, S3ArtifactStore)
    assert (s3.bucket, s3.prefix) == ("bucket", "team/artifacts")


def test_open_artifacts_refuses_other_locations_and_says_what_is_accepted(tmp_path: Path) -> None:
    for location in ("gs://bucket/x", "https://host/x", "file://otherhost/x", "file://", "  "):
        with pytest.raises(InvalidInputError) as err:
            open_artifacts(location, tmp_path)
        assert "s3://bucket/prefix" in str(err.value), location
    with pytest.raises(InvalidInputError) as err:
        open_artifacts("https://user:hunter2@host/x", tmp_path)
    assert "hunter2" not in str(err.value)
