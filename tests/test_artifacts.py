"""The content-addressed artifact store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shipyard.errors import IntegrityError, InvalidInputError, NotFoundError
from shipyard.store.local.artifacts import LocalArtifactStore


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_put_file_names_blob_by_sha256_of_its_bytes(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 1000)
    blob = store.put_file(source)
    assert blob.digest == digest_of(b"weights" * 1000)
    assert blob.size == 7000
    assert store.read_bytes(blob.digest) == b"weights" * 1000


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    assert store.put_file(a) == store.put_file(b) == store.put_bytes(b"same")
    blobs = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert len(blobs) == 1


def test_write_leaves_no_temporary_files_and_blob_is_read_only(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    blob = store.put_bytes(b"payload")
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert [p.name.startswith(".tmp-") for p in files] == [False]
    assert files[0].stat().st_mode & 0o222 == 0
    store.verify(blob.digest)


def tamper(store_root: Path, digest: str, data: bytes) -> None:
    hexd = digest.removeprefix("sha256:")
    path = store_root / "sha256" / hexd[:2] / hexd[2:]
    path.chmod(0o644)
    path.write_bytes(data)


def test_read_of_tampered_blob_is_refused_with_digest_mismatch(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    blob = store.put_bytes(b"genuine")
    tamper(tmp_path / "store", blob.digest, b"evil")
    with pytest.raises(IntegrityError, match="corrupt") as err:
        store.read_bytes(blob.digest)
    assert digest_of(b"evil") in err.value.message
    with pytest.raises(IntegrityError):
        store.verify(blob.digest)


def test_storing_the_same_content_again_repairs_a_damaged_blob(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    blob = store.put_bytes(b"genuine")
    tamper(tmp_path / "store", blob.digest, b"evil")
    source = tmp_path / "again.bin"
    source.write_bytes(b"genuine")
    assert store.put_file(source) == blob
    assert store.read_bytes(blob.digest) == b"genuine"


def test_copy_of_tampered_blob_leaves_nothing_at_destination(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    blob = store.put_bytes(b"genuine")
    tamper(tmp_path / "store", blob.digest, b"evil")
    dest = tmp_path / "out" / "model.bin"
    with pytest.raises(IntegrityError):
        store.copy_to(blob.digest, dest)
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_blob_and_malformed_digest_give_clear_errors(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    with pytest.raises(NotFoundError, match="missing from the store"):
        store.read_bytes(digest_of(b"never stored"))
    with pytest.raises(InvalidInputError, match="malformed digest"):
        store.read_bytes("sha256:../../etc/passwd")
    with pytest.raises(NotFoundError, match="no such file"):
        store.put_file(tmp_path / "absent.bin")
