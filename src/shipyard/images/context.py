"""The build context of a version's image: its bundle, as the artifact store holds it.

The package stage stores a bundle file by file and the registered version names
its manifest (tag ``shipyard.bundle``); the files come back digest-verified. The
context adds what the bundle cannot carry: the registered version number in the
image's ``manifest.json`` (so the image serves the version as its number), a
wheel of Shipyard, and wheels of the local builds its pins name that no index has
(``dependencies``: PyTorch's CPU build). Every file gets the same mode and
modification time (the version's registration time), so the layers do not depend
on when or where the context was written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from shipyard import __version__
from shipyard.errors import IntegrityError, NotFoundError, ShipyardError
from shipyard.images.dependencies import WHEELS, fetch_local_wheels
from shipyard.images.wheel import write_wheel
from shipyard.store import ModelVersion, Stores
from shipyard.tags import BUNDLE_TAG


@dataclass(frozen=True, slots=True)
class Bundle:
    """A registered version's bundle: its manifest and the manifest's digest."""

    digest: str
    manifest: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    """A written build context and what the build needs to know about it."""

    path: Path
    timestamp: int  # the version's registration time, in seconds since the epoch
    labels: dict[str, str]  # the Dockerfile's build arguments that name the version


def read_bundle(stores: Stores, version: ModelVersion) -> Bundle:
    """The bundle the version's tag names, checked to suit the running Shipyard."""
    digest = version.tags.get(BUNDLE_TAG)
    ref = f"{version.model}:{version.version}"
    if digest is None:
        raise NotFoundError(
            f"{ref} has no bundle to build an image from (it was registered without the "
            "package stage)",
            hint="register versions with `shipyard run`, whose package stage builds the bundle "
            "(a `package:` section in shipyard.yaml says what goes in it)",
        )
    manifest: dict[str, Any] = json.loads(stores.artifacts.read_bytes(digest))
    _check_buildable(stores, ref, manifest)
    return Bundle(digest, manifest)


def _safe(rel: str) -> PurePosixPath:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise IntegrityError(f"the bundle's manifest names a file outside the bundle: {rel!r}")
    return path


def _check_buildable(stores: Stores, ref: str, manifest: dict[str, Any]) -> None:
    """The image installs the running Shipyard from a wheel: the bundle's Dockerfile must
    expect one, and its pins must have been made for this Shipyard."""
    pinned = [r for r in manifest.get("requirements", []) if r.lower().startswith("shipyard==")]
    if pinned and pinned[0] != f"shipyard=={__version__}":
        raise ShipyardError(
            f"{ref}'s bundle was packaged with {pinned[0]}, and this is shipyard {__version__}: "
            "the image would hold another Shipyard than the bundle's pins were made for",
            hint=f"build it with {pinned[0]}, or register a new version with this Shipyard "
            "(`shipyard run`)",
        )
    dockerfile = stores.artifacts.read_bytes(manifest["files"]["Dockerfile"]).decode()
    if "COPY wheels/" not in dockerfile:
        raise ShipyardError(
            f"{ref}'s bundle was packaged by an earlier Shipyard, whose Dockerfile cannot "
            "install Shipyard (it is not on PyPI) or keep the model in a layer of its own",
            hint="register a new version with this Shipyard (`shipyard run`): its package "
            "stage writes the current Dockerfile",
        )


def settle(root: Path, timestamp: int) -> None:
    """One mode and one time for every file and directory: layers that depend only on content."""
    for path in sorted(root.rglob("*"), reverse=True):
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (timestamp, timestamp))
    os.utime(root, (timestamp, timestamp))


def write_context(stores: Stores, version: ModelVersion, bundle: Bundle, dest: Path) -> Context:
    """Write the build context of ``version``'s image into the empty directory ``dest``."""
    manifest = bundle.manifest
    for rel, digest in manifest["files"].items():
        target = dest.joinpath(*_safe(rel).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        stores.artifacts.copy_to(digest, target)
    for directory in ("code", "model"):
        (dest / directory).mkdir(exist_ok=True)  # a bundle without code still has the directory
    served = {**manifest, "version": version.version}
    fetch_local_wheels(manifest.get("requirements", []), dest / WHEELS)
    (dest / "manifest.json").write_text(json.dumps(served, indent=2, sort_keys=True) + "\n")
    write_wheel(dest / "wheels")
    timestamp = int(datetime.fromisoformat(version.created_at).timestamp())
    settle(dest, timestamp)
    labels = {
        "MODEL_VERSION": str(version.version),
        "CREATED": version.created_at,
        "CONTENT_DIGEST": version.content_digest,
        "BUNDLE_DIGEST": bundle.digest,
    }
    return Context(dest, timestamp, labels)
