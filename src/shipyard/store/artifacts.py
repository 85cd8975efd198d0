"""Content-addressed artifact storage.

Blobs are named by the sha256 of their bytes (``sha256:<hex>``), so identical
content is stored once. A write goes to a temporary file in the same directory,
is fsynced, re-read to verify its digest, then renamed into place (and the
directory fsynced): a crash leaves either nothing or a complete blob. Every
read hashes the bytes again and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shipyard.errors import IntegrityError, InvalidInputError, NotFoundError

_CHUNK = 1 << 20
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob: its digest and size in bytes."""

    digest: str
    size: int


class ArtifactStore(Protocol):
    """What the services need from an artifact store (local FS now, S3 later)."""

    def put_file(self, path: Path, known: Blob | None = None) -> Blob:
        """Store a file's bytes; return their digest (existing content is not rewritten).

        ``known`` is the file's digest when the caller has just computed it; the copy
        is still verified against it, so a file changed meanwhile is refused.
        """
        ...

    def put_bytes(self, data: bytes) -> Blob:
        """Store bytes; return their digest."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        ...

    def read_bytes(self, digest: str) -> bytes:
        """Return a blob's bytes after verifying their digest."""
        ...

    def copy_to(self, digest: str, dest: Path) -> None:
        """Write a verified copy of a blob to ``dest`` (atomically)."""
        ...

    def verify(self, digest: str) -> None:
        """Re-hash a stored blob; raise ``IntegrityError`` on mismatch."""
        ...


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed ``sha256:<64 hex>`` string."""
    if not _DIGEST.match(digest):
        raise InvalidInputError(
            f"malformed digest {digest!r}", hint="expected 'sha256:' followed by 64 hex digits"
        )
    return digest


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def file_digest(path: Path) -> Blob:
    """Hash a file without storing it."""
    h = hashlib.sha256()
    size = 0
    for chunk in _chunks(path):
        h.update(chunk)
        size += len(chunk)
    return Blob(f"sha256:{h.hexdigest()}", size)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(dest: Path, chunks: Iterator[bytes], expected: str | None) -> Blob:
    """Write chunks to a temp file beside ``dest``, fsync, verify, rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                h.update(chunk)
                size += len(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        digest = f"sha256:{h.hexdigest()}"
        if expected is not None and digest != expected:
            raise IntegrityError(
                f"content changed while it was being copied to {dest}: "
                f"expected {expected}, read {digest}",
                hint="the source file was modified during the copy; try again",
            )
        written = file_digest(tmp)
        if written.digest != digest:
            raise IntegrityError(f"write to {dest} could not be verified (disk error?)")
        tmp.chmod(0o444)
        tmp.replace(dest)
        _fsync_dir(dest.parent)
        return Blob(digest, size)
    finally:
        tmp.unlink(missing_ok=True)


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
        return _atomic_write(dest, _chunks(path), expected=blob.digest)

    def put_bytes(self, data: bytes) -> Blob:
        """Store bytes held in memory."""
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        dest = self._path(digest)
        if self._intact(dest, digest):
            return Blob(digest, len(data))
        return _atomic_write(dest, iter([data]), expected=digest)

    def exists(self, digest: str) -> bool:
        """Whether the blob is present (not whether it is intact: see ``verify``)."""
        return self._path(digest).is_file()

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

    def copy_to(self, digest: str, dest: Path) -> None:
        """Copy a blob to ``dest``; on a digest mismatch nothing is left at ``dest``."""
        try:
            _atomic_write(dest, _chunks(self._stored(digest)), expected=digest)
        except IntegrityError as err:
            raise self._mismatch(digest, file_digest(self._path(digest)).digest) from err
        dest.chmod(0o644)

    def verify(self, digest: str) -> None:
        """Re-hash a stored blob."""
        actual = file_digest(self._stored(digest)).digest
        if actual != digest:
            raise self._mismatch(digest, actual)
