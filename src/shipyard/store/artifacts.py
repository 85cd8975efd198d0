"""Content-addressed artifact storage: the interface, and the digest and write helpers
every implementation shares.

Blobs are named by the sha256 of their bytes (``sha256:<hex>``), so identical
content is stored once. A write goes to a temporary file in the same directory,
is fsynced, re-read to verify its digest, then renamed into place (and the
directory fsynced): a crash leaves either nothing or a complete blob. Every
read hashes the bytes again and refuses a mismatch, except ``open_stream``,
whose reader hashes what it receives (the control plane streams blobs to clients
that verify them).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shipyard.errors import IntegrityError, InvalidInputError

CHUNK_SIZE = 1 << 20
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob: its digest and size in bytes."""

    digest: str
    size: int


class ArtifactStore(Protocol):
    """What the services need from an artifact store (a local directory, S3, a server)."""

    def put_file(self, path: Path, known: Blob | None = None) -> Blob:
        """Store a file's bytes; return their digest (existing content is not rewritten).

        ``known`` is the file's digest when the caller has just computed it; the copy
        is still verified against it, so a file changed meanwhile is refused.
        """
        ...

    def put_bytes(self, data: bytes) -> Blob:
        """Store bytes; return their digest."""
        ...

    def put_stream(self, parts: Iterator[bytes], expected: str) -> Blob:
        """Store streamed bytes that must hash to ``expected``, without holding them in memory.

        Bytes hashing to anything else raise ``IntegrityError`` (naming both digests);
        that, or an exception from ``parts`` itself (which propagates unchanged), leaves
        no blob and no temporary file behind.
        """
        ...

    def exists(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        ...

    def size(self, digest: str) -> int:
        """A stored blob's size in bytes; ``NotFoundError`` if it is not stored."""
        ...

    def read_bytes(self, digest: str) -> bytes:
        """Return a blob's bytes after verifying their digest."""
        ...

    def open_stream(self, digest: str) -> Iterator[bytes]:
        """A stored blob's bytes in chunks, **not verified**: the reader must hash them.

        ``NotFoundError`` is raised by this call, before any chunk, if the blob is missing.
        """
        ...

    def copy_to(self, digest: str, dest: Path) -> None:
        """Write a verified copy of a blob to ``dest`` (atomically)."""
        ...

    def verify(self, digest: str) -> None:
        """Re-hash a stored blob; raise ``IntegrityError`` on mismatch."""
        ...


class DigestMismatch(IntegrityError):
    """Bytes hashed to ``actual`` where ``expected`` was required (so callers can say
    what the mismatch means where it happened: a corrupt blob, a bad upload)."""

    def __init__(self, message: str, *, expected: str, actual: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.expected = expected
        self.actual = actual


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed ``sha256:<64 hex>`` string."""
    if not _DIGEST.match(digest):
        raise InvalidInputError(
            f"malformed digest {digest!r}", hint="expected 'sha256:' followed by 64 hex digits"
        )
    return digest


def upload_mismatch(expected: str, actual: str) -> DigestMismatch:
    """The error for streamed bytes that do not hash to the digest they were sent as."""
    return DigestMismatch(
        f"refused bytes sent as {expected}: they hash to {actual}",
        expected=expected,
        actual=actual,
        hint="the upload was cut short or corrupted, or the digest is wrong; send it again",
    )


def chunks(path: Path) -> Iterator[bytes]:
    """A file's bytes in chunks of ``CHUNK_SIZE``."""
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            yield chunk


def digest_parts(parts: Iterable[bytes]) -> Blob:
    """Hash chunks without storing them."""
    h = hashlib.sha256()
    size = 0
    for chunk in parts:
        h.update(chunk)
        size += len(chunk)
    return Blob(f"sha256:{h.hexdigest()}", size)


def file_digest(path: Path) -> Blob:
    """Hash a file without storing it."""
    return digest_parts(chunks(path))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def spooled(
    parts: Iterable[bytes], directory: Path, *, durable: bool
) -> Iterator[tuple[Path, Blob]]:
    """Write chunks to a new temporary file in ``directory``, hashing them on the way, and
    yield its path and digest; the file is removed on exit, whatever happened (rename it
    away to keep it). ``durable`` fsyncs it before yielding."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as f:
            for chunk in parts:
                h.update(chunk)
                size += len(chunk)
                f.write(chunk)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        yield tmp, Blob(f"sha256:{h.hexdigest()}", size)
    finally:
        tmp.unlink(missing_ok=True)


def check_spool(tmp: Path, blob: Blob, target: object) -> None:
    """Re-read a spooled file: what was written is what was hashed (a disk error otherwise)."""
    if file_digest(tmp).digest != blob.digest:
        raise IntegrityError(f"write to {target} could not be verified (disk error?)")


def atomic_write(dest: Path, parts: Iterator[bytes], expected: str | None) -> Blob:
    """Write chunks to a temp file beside ``dest``, fsync, verify, rename: a reader sees
    the whole verified file or nothing. A mismatch with ``expected`` raises
    ``DigestMismatch``."""
    with spooled(parts, dest.parent, durable=True) as (tmp, blob):
        if expected is not None and blob.digest != expected:
            raise DigestMismatch(
                f"content changed while it was being copied to {dest}: "
                f"expected {expected}, read {blob.digest}",
                expected=expected,
                actual=blob.digest,
                hint="the source file was modified during the copy; try again",
            )
        check_spool(tmp, blob, dest)
        tmp.chmod(0o444)
        tmp.replace(dest)
        _fsync_dir(dest.parent)
        return blob
