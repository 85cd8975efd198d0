"""The artifact store in an S3 bucket (``s3://bucket/prefix``), on AWS or any S3-compatible
service.

Blobs are objects at ``<prefix>/sha256/<2 hex>/<62 hex>`` carrying their sha256 as
metadata (``x-amz-meta-sha256``) and, unless ``checksums=False``, as an S3 SHA256
checksum that the service checks on arrival. A reader never sees a partial object: a
stream is spooled to a local temporary file while it is hashed, and only bytes that hash
to their digest are uploaded to the final key (a single PUT, or a multipart upload that
s3transfer aborts if it fails; S3 shows neither until it completes). Reads hash what
they get and refuse a mismatch, like the local store.

The endpoint, region and credentials come from boto3's usual sources
(``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``,
``AWS_PROFILE``, ``~/.aws``…); ``endpoint_url`` overrides the endpoint.
"""

from __future__ import annotations

import base64
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from shipyard.errors import IntegrityError, InvalidInputError, NotFoundError, ShipyardError
from shipyard.store.artifacts import (
    CHUNK_SIZE,
    Blob,
    DigestMismatch,
    atomic_write,
    check_digest,
    check_spool,
    chunks,
    digest_parts,
    file_digest,
    spooled,
    upload_mismatch,
)
from shipyard.store.s3.errors import error_code, no_such_bucket, redact, translate

# Below this a blob goes up in one PUT whose SHA256 checksum the service compares with
# the digest we computed; above it, in parts of this size (each part checksummed), a few
# at a time, so memory stays bounded whatever the blob's size.
MULTIPART_THRESHOLD = 64 << 20
PART_SIZE = 16 << 20
_CONCURRENCY = 4
_MISSING_KEY = frozenset({"404", "NoSuchKey", "NotFound"})
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")`` (the prefix may be empty)."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise InvalidInputError(
            f"not an S3 location: {redact(url)!r}", hint="write s3://bucket/prefix"
        )
    if "@" in parts.netloc:
        # Never echo it: the part before '@' would be a secret.
        raise InvalidInputError(
            "credentials do not belong in an S3 artifact store URL",
            hint="give boto3 credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile",
        )
    if not _BUCKET.match(parts.netloc) or parts.query or parts.fragment:
        raise InvalidInputError(
            f"malformed S3 location {url!r}",
            hint="write s3://bucket/prefix (the prefix is optional)",
        )
    return parts.netloc, parts.path.strip("/")


class S3ArtifactStore:
    """Blobs in ``s3://bucket/prefix`` at ``<prefix>/sha256/<2 hex>/<62 hex>``.

    ``spool`` is the directory that holds a blob while it is hashed before upload (the
    system temporary directory unless given); it needs room for the largest blob.
    ``checksums=False`` leaves out S3 SHA256 checksums for services that reject them.
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        spool: Path | None = None,
        checksums: bool = True,
    ) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._endpoint_url = endpoint_url
        self._spool = spool
        self._checksums = checksums
        self._client: Any = None
        self._endpoint = redact(endpoint_url) if endpoint_url else "the configured S3 endpoint"
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------

    def _s3(self) -> Any:
        """The boto3 client, made (and the bucket checked) on first use."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        import boto3
        from botocore.config import Config

        try:
            client = boto3.session.Session().client(
                "s3", endpoint_url=self._endpoint_url, config=Config(connect_timeout=10)
            )
        except ValueError as err:  # botocore's word for a malformed endpoint URL
            raise InvalidInputError(
                f"invalid S3 endpoint {self._endpoint!r}", hint="write it as http(s)://host:port"
            ) from err
        self._endpoint = redact(str(client.meta.endpoint_url))
        # HEAD has no body, so a missing bucket is a bare 404, as a missing object would be.
        with self._calling("open", missing=no_such_bucket(self.bucket, self._endpoint)):
            client.head_bucket(Bucket=self.bucket)
        return client

    @contextmanager
    def _calling(self, action: str, missing: ShipyardError | None = None) -> Iterator[None]:
        """Turn boto errors into Shipyard's; a 404 becomes ``missing`` when given."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError, Boto3Error) as err:
            if missing is not None and error_code(err) in _MISSING_KEY:
                raise missing from err
            raise translate(
                err, action=action, bucket=self.bucket, endpoint=self._endpoint
            ) from err

    def _not_found(self, digest: str) -> NotFoundError:
        return NotFoundError(
            f"artifact {digest} is missing from the store at {self.url}",
            hint="the bucket was changed or pruned; re-register the model from its source",
        )

    def _key(self, digest: str) -> str:
        hexd = check_digest(digest).removeprefix("sha256:")
        name = f"sha256/{hexd[:2]}/{hexd[2:]}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _head(self, digest: str) -> dict[str, Any]:
        key = self._key(digest)
        client = self._s3()
        extra = {"ChecksumMode": "ENABLED"} if self._checksums else {}
        with self._calling("read", missing=self._not_found(digest)):
            return dict(client.head_object(Bucket=self.bucket, Key=key, **extra))

    def _intact(self, blob: Blob) -> bool:
        """Whether the object is there with this size and digest (by its metadata and, when
        S3 reports a whole-object one, its checksum): a put of the same content repairs one
        replaced behind the store's back, without downloading it first."""
        try:
            head = self._head(blob.digest)
        except NotFoundError:
            return False
        hexd = blob.digest.removeprefix("sha256:")
        checksum = head.get("ChecksumSHA256")
        return (
            head.get("ContentLength") == blob.size
            and head.get("Metadata", {}).get("sha256") == hexd
            and (checksum is None or "-" in checksum or checksum == _b64(hexd))
        )

    def _upload(self, source: Path, blob: Blob) -> None:
        from boto3.s3.transfer import TransferConfig

        key = self._key(blob.digest)
        client = self._s3()
        hexd = blob.digest.removeprefix("sha256:")
        extra = _metadata(hexd)
        with self._calling("write"):
            if blob.size < MULTIPART_THRESHOLD:
                with source.open("rb") as body:
                    self._put_object(key, body, hexd, extra)
                return
            if self._checksums:
                extra["ChecksumAlgorithm"] = "SHA256"
            config = TransferConfig(
                multipart_threshold=MULTIPART_THRESHOLD,
                multipart_chunksize=PART_SIZE,
                max_concurrency=_CONCURRENCY,
            )
            client.upload_file(str(source), self.bucket, key, ExtraArgs=extra, Config=config)

    def _put_object(
        self, key: str, body: BinaryIO | bytes, hexd: str, extra: dict[str, Any]
    ) -> None:
        if self._checksums:
            extra = {**extra, "ChecksumAlgorithm": "SHA256", "ChecksumSHA256": _b64(hexd)}
        self._s3().put_object(Bucket=self.bucket, Key=key, Body=body, **extra)

    def _chunks(self, body: Any) -> Iterator[bytes]:
        try:
            with self._calling("read"):
                yield from body.iter_chunks(CHUNK_SIZE)
        finally:
            body.close()

    def _mismatch(self, digest: str, actual: str) -> IntegrityError:
        return IntegrityError(
            f"artifact {digest} is corrupt: its bytes now hash to {actual}",
            hint=f"the object s3://{self.bucket}/{self._key(digest)} was changed behind the "
            "store's back; re-register the model from a trusted source",
        )

    # -- the ArtifactStore interface ----------------------------------------------------

    def put_file(self, path: Path, known: Blob | None = None) -> Blob:
        """Store a file. Content already stored intact costs a HEAD; otherwise the file is
        copied to the spool while hashed, so a file changed meanwhile is refused."""
        if not path.is_file():
            raise NotFoundError(f"no such file: {path}")
        blob = known or file_digest(path)
        if self._intact(blob):
            return blob
        try:
            return self.put_stream(chunks(path), blob.digest)
        except DigestMismatch as err:
            raise DigestMismatch(
                f"content changed while {path} was being stored: "
                f"expected {err.expected}, read {err.actual}",
                expected=err.expected,
                actual=err.actual,
                hint="the file was modified during the copy; try again",
            ) from None

    def put_bytes(self, data: bytes) -> Blob:
        """Store bytes held in memory (in one PUT)."""
        blob = digest_parts([data])
        if not self._intact(blob):
            hexd = blob.digest.removeprefix("sha256:")
            with self._calling("write"):
                self._put_object(self._key(blob.digest), data, hexd, _metadata(hexd))
        return blob

    def put_stream(self, parts: Iterator[bytes], expected: str) -> Blob:
        """Spool the stream while hashing it; upload it only if it hashes to ``expected``
        (and is not already stored intact). The spool file is removed either way."""
        check_digest(expected)
        spool = self._spool or Path(tempfile.gettempdir())
        with spooled(parts, spool, durable=False) as (tmp, blob):
            if blob.digest != expected:
                raise upload_mismatch(expected, blob.digest)
            if not self._intact(blob):
                check_spool(tmp, blob, self.url)
                self._upload(tmp, blob)
            return blob

    def exists(self, digest: str) -> bool:
        """Whether the object is present (a HEAD; not whether it is intact: see ``verify``)."""
        try:
            self._head(digest)
        except NotFoundError:
            return False
        return True

    def size(self, digest: str) -> int:
        """The stored blob's size in bytes (a HEAD)."""
        return int(self._head(digest)["ContentLength"])

    def read_bytes(self, digest: str) -> bytes:
        """Download a blob into memory, refusing it if it does not match the digest."""
        data = b"".join(self.open_stream(digest))
        actual = digest_parts([data]).digest
        if actual != digest:
            raise self._mismatch(digest, actual)
        return data

    def open_stream(self, digest: str) -> Iterator[bytes]:
        """The object's bytes in chunks, as the service sends them (the reader verifies)."""
        key = self._key(digest)
        client = self._s3()
        with self._calling("read", missing=self._not_found(digest)):
            body = client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return self._chunks(body)

    def copy_to(self, digest: str, dest: Path) -> None:
        """Download a blob to ``dest``; on a digest mismatch nothing is left at ``dest``."""
        try:
            atomic_write(dest, self.open_stream(digest), expected=digest)
        except DigestMismatch as err:
            raise self._mismatch(digest, err.actual) from err
        dest.chmod(0o644)

    def verify(self, digest: str) -> None:
        """Download and re-hash a stored blob (without keeping it)."""
        actual = digest_parts(self.open_stream(digest)).digest
        if actual != digest:
            raise self._mismatch(digest, actual)


def _b64(hexd: str) -> str:
    """A hex sha256 as S3 writes checksums (base64 of the raw digest)."""
    return base64.b64encode(bytes.fromhex(hexd)).decode()


def _metadata(hexd: str) -> dict[str, Any]:
    return {"ContentType": "application/octet-stream", "Metadata": {"sha256": hexd}}
