"""Bundles as a source of a version to serve: the manifest, and every file checked against it.

A bundle is what ``shipyard run``'s package stage writes (and what a container
image holds): ``manifest.json`` names the model, flavor, entrypoint, signature
and every file's digest. A file that does not match is refused before anything
is imported from the bundle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shipyard.errors import IntegrityError, InvalidInputError
from shipyard.store.artifacts import file_digest

MANIFEST = "manifest.json"
FORMAT = "shipyard.bundle/1"


def is_bundle(ref: str) -> bool:
    """Whether ``ref`` names a bundle directory rather than a registry reference."""
    return (Path(ref) / MANIFEST).is_file()


def read_manifest(path: Path) -> dict[str, Any]:
    """The bundle's manifest, after checking every file it lists against its digest."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"{path / MANIFEST}: cannot be read: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidInputError(f"{path}: not a Shipyard bundle (expected format {FORMAT})")
    for name, digest in manifest["files"].items():
        file = path / name
        if not file.is_file() or file_digest(file).digest != digest:
            raise IntegrityError(
                f"{path}: {name} does not match the digest in the manifest ({digest})",
                hint="rebuild the bundle with `shipyard run --to package`",
            )
    return manifest


def bundle_version(manifest: dict[str, Any]) -> str:
    """The version a bundle serves as (its registered number when known)."""
    return str(manifest.get("version") or "1")
