"""A stage's outputs in the artifact store: saved after it succeeds, restored when it is cached."""

from __future__ import annotations

from pathlib import Path

from shipyard.pipeline.fingerprint import files_under
from shipyard.store import ArtifactStore
from shipyard.store.artifacts import file_digest


def save_outputs(root: Path, outs: tuple[str, ...], artifacts: ArtifactStore) -> dict[str, str]:
    """Store every file the ``outs`` name (directories file by file); returns path → digest.

    Outputs that do not exist are left out: the stage decides whether that is an error.
    """
    saved: dict[str, str] = {}
    for out in outs:
        path = root / out
        files = files_under(path) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            saved[file.relative_to(root).as_posix()] = artifacts.put_file(file).digest
    return saved


def restore_outputs(
    root: Path, outs: tuple[str, ...], outputs: dict[str, str], artifacts: ArtifactStore
) -> int:
    """Make the declared outputs hold exactly the cached files; returns how many were written.

    Files under an output that the cached result does not have are removed (a stale file
    from another run must not ride along into a bundle or a model); files that already
    match are left alone, so a no-op re-run writes nothing.
    """
    for out in outs:
        path = root / out
        present = files_under(path) if path.is_dir() else [path] if path.is_file() else []
        for file in present:
            if file.relative_to(root).as_posix() not in outputs:
                file.unlink()
    written = 0
    for rel, digest in outputs.items():
        path = root / rel
        if path.is_file() and file_digest(path).digest == digest:
            continue
        artifacts.copy_to(digest, path)
        written += 1
    return written
