"""The artifact store in a local directory (the embedded default).

Blobs live under ``root/sha256/<2 hex>/<62 hex>``, written through ``atomic_write``
(temp file, fsync, verify, rename), so a crash leaves either nothing or a whole blob.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from shipyard.errors import IntegrityError, NotFoundError
from shipyard.store.artifacts import (
    Blob,
    DigestMismatch,
    atomic_write,
    check_digest,
    chunks,
    digest_parts,
    file_digest,
    upload_mismatch,
)


class LocalArtifactStore:
    """Blobs under ``root/sha256/<2 hex>/<62 hex>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        hexd = check_digest(digest).removeprefix("sha256:")
        return self.root / "sha256" / hexd[:2] / hexd[2:]

    def _intact(self, dest: Path, digest: str) -> bool:
        """Whether a blob is already stored and still matches (a damaged one is rewritten)."""
        return dest.is_file() and file_digest(dest).digest == digest

    def put_file(self, path: Path, known: Blob | None = None) -> Blob:
        """Store a file; the source is hashed first (unless ``known``) so intact known
        content costs no write."""
        if not path.is_file():
            raise NotFoundError(f"no such file: {path}")
        blob = known or file_digest(path)
        dest = self._path(blob.digest)
        if self._intact(dest, blob.digest):
            return blob
        return atomic_write(dest, chunks(path), expected=blob.digest)

    def put_bytes(self, data: bytes) -> Blob:
        """Store bytes held in memory."""
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        dest = self._path(digest)
        if self._intact(dest, digest):
            return Blob(digest, len(data))
        return atomic_write(dest, iter([data]), expected=digest)

    def put_stream(self, parts: Iterator[bytes], expected: str) -> Blob:
        """Store streamed bytes that must hash to ``expected``; when an intact blob is
        already stored the stream is only hashed, not written."""
        dest = self._path(expected)
        if self._intact(dest, expected):
            blob = digest_parts(parts)
            if blob.digest != expected:
                raise upload_mismatch(expected, blob.digest)
            return blob
        try:
            return atomic_write(dest, parts, expected=expected)
        except DigestMismatch as err:
            raise upload_mismatch(expected, err.actual) from None

    def exists(self, digest: str) -> bool:
        """Whether the blob is present (not whether it is intact: see ``verify``)."""
        return self._path(digest).is_file()

    def size(self, digest: str) -> int:
        """The stored blob's size in bytes."""
        return self._stored(digest).stat().st_size

    def _stored(self, digest: str) -> Path:
        path = self._path(digest)
        if not path.is_file():
            raise NotFoundError(
                f"artifact {digest} is missing from the store at {self.root}",
                hint="the store was moved or pruned; re-register the model from its source",
            )
        return path

    def _mismatch(self, digest: str, actual: str) -> IntegrityError:
        return IntegrityError(
            f"artifact {digest} is corrupt: its bytes now hash to {actual}",
            hint=f"the file {self._path(digest)} was modified on disk; "
            "re-register the model from a trusted source",
        )

    def read_bytes(self, digest: str) -> bytes:
        """Return the bytes of a blob, refusing them if they do not match the digest."""
        data = self._stored(digest).read_bytes()
        actual = f"sha256:{hashlib.sha256(data).hexdigest()}"
        if actual != digest:
            raise self._mismatch(digest, actual)
        return data

    def open_stream(self, digest: str) -> Iterator[bytes]:
        """The blob's bytes in chunks, as stored (the reader verifies them)."""
        return chunks(self._stored(digest))

    def copy_to(self, digest: str, dest: Path) -> None:
        """Copy a blob to ``dest``; on a digest mismatch nothing is left at ``dest``."""
        try:
            atomic_write(dest, chunks(self._stored(digest)), expected=digest)
        except DigestMismatch as err:
            raise self._mismatch(digest, err.actual) from err
        dest.chmod(0o644)

    def verify(self, digest: str) -> None:
        """Re-hash a stored blob."""
        actual = file_digest(self._stored(digest)).digest
        if actual != digest:
            raise self._mismatch(digest, actual)
