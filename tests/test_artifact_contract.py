"""One contract for every artifact store: the local directory and S3, where S3 is moto's
**mock** server (a real HTTP server on loopback; no real S3-compatible server installs
here), so its cases are named ``s3-moto-mock``."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from moto_helpers import (  # noqa: F401 (the fixtures moto_s3 and s3_credentials)
    SECRET_KEY,
    MotoS3,
    free_port,
    moto_s3_fixture,
    s3_credentials_fixture,
    start_moto,
)
from shipyard.errors import IntegrityError, InvalidInputError, NotFoundError, StoreError
from shipyard.store.artifacts import ArtifactStore, Blob
from shipyard.store.local.artifacts import LocalArtifactStore
from shipyard.store.s3.artifacts import S3ArtifactStore

MB = 1 << 20


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Backend:
    """A store under test and ways to look behind its back."""

    store: ArtifactStore
    tamper: Callable[[str, bytes], None]  # replace a blob's bytes, bypassing the store
    stored: Callable[[], list[str]]  # every file or object the store holds
    scratch: Path  # where temporary files could be left (the store itself, or its spool)
    unfinished: Callable[[], list[str]]  # multipart uploads neither completed nor aborted

    def leftovers(self) -> list[str]:
        """Everything the store holds or left behind, unfinished uploads included."""
        scratch = [str(p) for p in self.scratch.rglob("*") if p.is_file()]
        return sorted({*self.stored(), *scratch, *self.unfinished()})


def _local(tmp_path: Path) -> Backend:
    root = tmp_path / "store"

    def tamper(digest: str, data: bytes) -> None:
        hexd = digest.removeprefix("sha256:")
        path = root / "sha256" / hexd[:2] / hexd[2:]
        path.chmod(0o644)
        path.write_bytes(data)

    def stored() -> list[str]:
        return [str(p) for p in root.rglob("*") if p.is_file()]

    return Backend(LocalArtifactStore(root), tamper, stored, root, list)


def _s3_mock(tmp_path: Path, moto: MotoS3) -> Backend:
    url = moto.url()
    prefix = url.removeprefix(f"s3://{moto.bucket}/")
    spool = tmp_path / "spool"
    store = S3ArtifactStore(url, endpoint_url=moto.endpoint, spool=spool)

    def tamper(digest: str, data: bytes) -> None:
        hexd = digest.removeprefix("sha256:")
        key = f"{prefix}/sha256/{hexd[:2]}/{hexd[2:]}"
        moto.client().put_object(Bucket=moto.bucket, Key=key, Body=data)

    return Backend(
        store,
        tamper,
        lambda: moto.keys(prefix),
        spool,
        lambda: moto.unfinished_uploads(prefix),
    )


@pytest.fixture(params=["local", "s3-moto-mock"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each store in turn (S3 being moto's mock)."""
    if request.param == "local":
        return _local(tmp_path)
    request.getfixturevalue("s3_credentials")
    return _s3_mock(tmp_path, request.getfixturevalue("moto_s3"))


def pattern(chunks: int, size: int = MB) -> Iterator[bytes]:
    """``chunks`` distinct chunks (so a reordering changes the digest), made on demand."""
    for i in range(chunks):
        yield i.to_bytes(4, "big") * (size // 4)


def test_put_file_and_put_bytes_name_the_blob_by_the_sha256_of_its_bytes(
    backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 1000)
    blob = backend.store.put_file(source)
    assert blob.digest == digest_of(b"weights" * 1000)
    assert blob.size == 7000
    assert backend.store.read_bytes(blob.digest) == b"weights" * 1000
    other = backend.store.put_bytes(b"config")
    assert other.digest == digest_of(b"config")
    assert backend.store.read_bytes(other.digest) == b"config"


def test_a_file_that_no_longer_matches_its_known_digest_is_refused(
    backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"hashed first")
    known = Blob(digest_of(b"hashed first"), 12)
    source.write_bytes(b"then changed")
    with pytest.raises(IntegrityError, match="changed while") as err:
        backend.store.put_file(source, known)
    assert known.digest in err.value.message and digest_of(b"then changed") in err.value.message
    assert backend.leftovers() == []


def test_identical_content_is_stored_once(backend: Backend, tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    store = backend.store
    same = store.put_stream(iter([b"sa", b"me"]), digest_of(b"same"))
    assert store.put_file(a) == store.put_file(b) == store.put_bytes(b"same") == same
    assert len(backend.leftovers()) == 1


def test_exists_and_size_tell_a_stored_blob_from_a_missing_one(backend: Backend) -> None:
    blob = backend.store.put_bytes(b"x" * 1234)
    assert backend.store.exists(blob.digest)
    assert backend.store.size(blob.digest) == 1234
    assert not backend.store.exists(digest_of(b"never stored"))
    with pytest.raises(NotFoundError, match="missing from the store"):
        backend.store.size(digest_of(b"never stored"))


def test_read_of_tampered_blob_is_refused_with_digest_mismatch(backend: Backend) -> None:
    blob = backend.store.put_bytes(b"genuine")
    backend.tamper(blob.digest, b"evil")
    with pytest.raises(IntegrityError, match="corrupt") as err:
        backend.store.read_bytes(blob.digest)
    assert digest_of(b"evil") in err.value.message
    with pytest.raises(IntegrityError, match="corrupt"):
        backend.store.verify(blob.digest)


def test_storing_the_same_content_again_repairs_a_damaged_blob(
    backend: Backend, tmp_path: Path
) -> None:
    blob = backend.store.put_bytes(b"genuine")
    source = tmp_path / "again.bin"
    source.write_bytes(b"genuine")
    repairs: list[Callable[[], object]] = [
        lambda: backend.store.put_file(source),
        lambda: backend.store.put_bytes(b"genuine"),
        lambda: backend.store.put_stream(iter([b"genuine"]), blob.digest),
    ]
    for repair in repairs:
        backend.tamper(blob.digest, b"evil")
        assert repair() == blob
        assert backend.store.read_bytes(blob.digest) == b"genuine"
        backend.store.verify(blob.digest)


def test_copy_to_writes_a_verified_copy(backend: Backend, tmp_path: Path) -> None:
    blob = backend.store.put_bytes(b"genuine")
    dest = tmp_path / "out" / "model.bin"
    backend.store.copy_to(blob.digest, dest)
    assert dest.read_bytes() == b"genuine"
    assert [p.name for p in dest.parent.iterdir()] == ["model.bin"]


def test_copy_of_tampered_blob_leaves_nothing_at_destination(
    backend: Backend, tmp_path: Path
) -> None:
    blob = backend.store.put_bytes(b"genuine")
    backend.tamper(blob.digest, b"evil")
    dest = tmp_path / "out" / "model.bin"
    with pytest.raises(IntegrityError, match="corrupt") as err:
        backend.store.copy_to(blob.digest, dest)
    assert digest_of(b"evil") in err.value.message
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_blob_and_malformed_digest_give_clear_errors(
    backend: Backend, tmp_path: Path
) -> None:
    store = backend.store
    missing = digest_of(b"never stored")
    reads: list[Callable[[str], object]] = [
        store.read_bytes,
        store.open_stream,
        store.size,
        store.verify,
        lambda d: store.copy_to(d, tmp_path / "out.bin"),
    ]
    for read in reads:
        with pytest.raises(NotFoundError, match="missing from the store"):
            read(missing)
        with pytest.raises(InvalidInputError, match="malformed digest"):
            read("sha256:../../etc/passwd")
    with pytest.raises(InvalidInputError, match="malformed digest"):
        store.exists("md5:abc")
    with pytest.raises(InvalidInputError, match="malformed digest"):
        store.put_stream(iter([b"x"]), "sha256:ABC")
    with pytest.raises(NotFoundError, match="no such file"):
        store.put_file(tmp_path / "absent.bin")
    assert not (tmp_path / "out.bin").exists()
    assert backend.leftovers() == []


def test_put_stream_with_the_right_digest_stores_the_blob(backend: Backend) -> None:
    parts = [b"layer-1|", b"", b"layer-2|", b"layer-3"]
    data = b"".join(parts)
    blob = backend.store.put_stream(iter(parts), digest_of(data))
    assert (blob.digest, blob.size) == (digest_of(data), len(data))
    assert backend.store.read_bytes(blob.digest) == data
    assert len(backend.leftovers()) == 1


def test_put_stream_with_a_wrong_digest_is_refused_and_leaves_nothing(backend: Backend) -> None:
    claimed = digest_of(b"what the client said it would send")
    with pytest.raises(IntegrityError) as err:
        backend.store.put_stream(iter([b"something ", b"else"]), claimed)
    assert claimed in err.value.message
    assert digest_of(b"something else") in err.value.message
    assert not backend.store.exists(claimed)
    assert not backend.store.exists(digest_of(b"something else"))
    assert backend.leftovers() == []  # no blob, temp file, spool file or multipart upload


def test_put_stream_with_a_wrong_digest_keeps_the_blob_already_stored(backend: Backend) -> None:
    blob = backend.store.put_bytes(b"genuine")
    with pytest.raises(IntegrityError, match="refused"):
        backend.store.put_stream(iter([b"forged"]), blob.digest)
    assert backend.store.read_bytes(blob.digest) == b"genuine"
    assert len(backend.leftovers()) == 1


class Disconnected(Exception):
    """The client went away half way through an upload."""


def test_put_stream_cut_off_half_way_leaves_nothing_and_a_retry_succeeds(
    backend: Backend,
) -> None:
    data = b"".join(pattern(4, 64 * 1024))

    def cut_off() -> Iterator[bytes]:
        yield from pattern(2, 64 * 1024)
        raise Disconnected

    with pytest.raises(Disconnected):  # the caller's own error, unchanged
        backend.store.put_stream(cut_off(), digest_of(data))
    assert not backend.store.exists(digest_of(data))
    assert backend.leftovers() == []
    blob = backend.store.put_stream(pattern(4, 64 * 1024), digest_of(data))
    assert backend.store.read_bytes(blob.digest) == data


def test_open_stream_yields_the_stored_bytes_in_chunks(backend: Backend) -> None:
    data = b"".join(pattern(3))  # 3 MB: more than one chunk
    blob = backend.store.put_bytes(data)
    parts = list(backend.store.open_stream(blob.digest))
    assert len(parts) > 1
    assert b"".join(parts) == data
    assert backend.store.size(blob.digest) == len(data)


def test_64_mb_stream_round_trips_without_holding_it_in_memory(backend: Backend) -> None:
    expected = hashlib.sha256()
    for part in pattern(64):
        expected.update(part)
    digest = f"sha256:{expected.hexdigest()}"
    assert not backend.store.exists(digest)  # connected: the client's own setup is not counted
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        blob = backend.store.put_stream(pattern(64), digest)
        read = hashlib.sha256()
        size = 0
        for part in backend.store.open_stream(blob.digest):
            read.update(part)
            size += len(part)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()
    assert (blob.size, size, f"sha256:{read.hexdigest()}") == (64 * MB, 64 * MB, digest)
    assert backend.store.size(digest) == 64 * MB
    assert peak < 32 * MB, f"peak Python memory grew by {peak / MB:.1f} MB"


# S3 only: what the user sees when the bucket, endpoint or credentials are wrong, and how
# objects are laid out (all against moto's mock server).


def test_s3_mock_missing_bucket_is_a_store_error_naming_bucket_and_endpoint(
    moto_s3: MotoS3, s3_credentials: None
) -> None:
    store = S3ArtifactStore("s3://no-such-bucket/p", endpoint_url=moto_s3.endpoint)
    for call in (lambda: store.exists(digest_of(b"x")), lambda: store.put_bytes(b"x")):
        with pytest.raises(StoreError, match="does not exist") as err:
            call()
        assert "no-such-bucket" in err.value.message
        assert moto_s3.endpoint in err.value.message
        assert err.value.hint and "create the bucket" in err.value.hint
        assert err.value.exit_code == 6


def test_s3_mock_unreachable_endpoint_is_a_store_error_with_a_hint(
    s3_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3ArtifactStore("s3://some-bucket/p", endpoint_url=endpoint)
    with pytest.raises(StoreError, match="cannot reach") as err:
        store.read_bytes(digest_of(b"x"))
    assert "some-bucket" in err.value.message and endpoint in err.value.message
    assert err.value.hint and "AWS_ENDPOINT_URL" in err.value.hint


def test_s3_mock_bad_credentials_are_a_store_error_that_shows_no_secret(
    s3_credentials: None, tmp_path: Path
) -> None:
    # A second mock server that checks credentials (moto accepts any by default).
    with start_moto(tmp_path / "moto.log", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as (url, _):
        store = S3ArtifactStore("s3://locked/p", endpoint_url=url)
        for call in (lambda: store.exists(digest_of(b"x")), lambda: store.put_bytes(b"x")):
            with pytest.raises(StoreError, match="refused") as err:
                call()
            shown = str(err.value)
            assert "locked" in shown and url in shown and "AWS_ACCESS_KEY_ID" in shown
            assert SECRET_KEY not in shown


def test_s3_mock_endpoint_comes_from_the_standard_aws_environment(
    moto_s3: MotoS3, s3_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3.endpoint)
    store = S3ArtifactStore(moto_s3.url())
    blob = store.put_bytes(b"found by the environment")
    assert store.read_bytes(blob.digest) == b"found by the environment"


def test_s3_mock_objects_are_content_addressed_under_the_prefix_with_their_sha256(
    moto_s3: MotoS3, s3_credentials: None, tmp_path: Path
) -> None:
    store = S3ArtifactStore(moto_s3.url("layout/deep"), endpoint_url=moto_s3.endpoint)
    small = store.put_bytes(b"small")
    large = store.put_stream(pattern(80), digest_of(b"".join(pattern(80))))  # multipart
    client = moto_s3.client()
    for blob in (small, large):
        hexd = blob.digest.removeprefix("sha256:")
        key = f"layout/deep/sha256/{hexd[:2]}/{hexd[2:]}"
        head = client.head_object(Bucket=moto_s3.bucket, Key=key, ChecksumMode="ENABLED")
        assert head["Metadata"] == {"sha256": hexd}
        assert head["ContentLength"] == blob.size
        assert "ChecksumSHA256" in head
    assert moto_s3.unfinished_uploads("layout/") == []


def test_s3_mock_multipart_upload_that_fails_half_way_is_aborted_and_a_retry_succeeds(
    moto_s3: MotoS3, s3_credentials: None, tmp_path: Path
) -> None:
    from botocore.exceptions import ConnectionClosedError

    url = moto_s3.url()
    prefix = url.removeprefix(f"s3://{moto_s3.bucket}/")
    store = S3ArtifactStore(url, endpoint_url=moto_s3.endpoint, spool=tmp_path / "spool")
    data_digest = digest_of(b"".join(pattern(80)))
    parts_sent = []

    def drop_the_third_part(**_: object) -> None:
        parts_sent.append(1)
        if len(parts_sent) == 3:
            raise ConnectionClosedError(endpoint_url=moto_s3.endpoint)

    # The network failing mid-upload, injected through botocore's own event hooks.
    events = store._s3().meta.events
    events.register("before-call.s3.UploadPart", drop_the_third_part)
    with pytest.raises(StoreError, match="cannot reach"):
        store.put_stream(pattern(80), data_digest)
    assert moto_s3.keys(prefix) == []
    assert moto_s3.unfinished_uploads(prefix) == []
    assert list((tmp_path / "spool").iterdir()) == []
    events.unregister("before-call.s3.UploadPart", drop_the_third_part)
    blob = store.put_stream(pattern(80), data_digest)
    store.verify(blob.digest)


def test_s3_url_must_name_a_bucket_and_never_carries_credentials() -> None:
    for bad in ("s3://", "s3:///prefix", "http://bucket/p", "s3://b/p?x=1"):
        with pytest.raises(InvalidInputError):
            S3ArtifactStore(bad)
    with pytest.raises(InvalidInputError, match="credentials do not belong") as err:
        S3ArtifactStore("s3://AKID:hunter2@bucket/p")
    assert "hunter2" not in str(err.value)
    assert S3ArtifactStore("s3://bucket").prefix == ""
    assert S3ArtifactStore("s3://bucket/a/b/").prefix == "a/b"
