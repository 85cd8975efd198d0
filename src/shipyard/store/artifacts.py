"""Content-addressed artifact storage: the interface, and the digest and write helpers
every implementation shares.

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

from shipyard.errors import IntegrityError, InvalidInputError

_CHUNK = 1 << 20
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


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def file_digest(path: Path) -> Blob:
    """Hash a file without storing it."""
    h = hashlib.sha256()
    size = 0
    for chunk in chunks(path):
        h.update(chunk)
        size += len(chunk)
    return Blob(f"sha256:{h.hexdigest()}", size)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(dest: Path, parts: Iterator[bytes], expected: str | None) -> Blob:
    """Write chunks to a temp file beside ``dest``, fsync, verify, rename: a reader sees
    the whole verified file or nothing."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as f:
            for chunk in parts:
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
