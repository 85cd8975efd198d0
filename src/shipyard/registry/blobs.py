"""Content-addressed blobs as the control plane moves them: streamed in, verified against
the digest the client announced, and streamed out (the client verifies what it reads)."""

from __future__ import annotations

from collections.abc import Iterator

from shipyard.store import Blob, Stores
from shipyard.store.artifacts import check_digest


def has_blob(stores: Stores, digest: str) -> bool:
    """Whether the store holds a blob (clients ask before sending one)."""
    return stores.artifacts.exists(check_digest(digest))


def blob_size(stores: Stores, digest: str) -> int:
    """A stored blob's size in bytes; ``NotFoundError`` if it is not stored."""
    return stores.artifacts.size(check_digest(digest))


def store_blob(stores: Stores, digest: str, parts: Iterator[bytes]) -> Blob:
    """Store streamed bytes under ``digest``: bytes that hash to anything else are refused
    (``IntegrityError``) and leave nothing behind, and so does a stream cut off half way."""
    return stores.artifacts.put_stream(parts, check_digest(digest))


def read_blob(stores: Stores, digest: str) -> Iterator[bytes]:
    """A stored blob's bytes in chunks."""
    return stores.artifacts.open_stream(check_digest(digest))
