"""Getting a version's files back out of the store, verified, and loading the model.

A version is checked out into ``$SHIPYARD_HOME/checkouts/<content digest>``:
built in a temporary directory from digest-verified copies, then renamed into
place, so a half-written checkout is never used. A checkout that exists is
re-verified before every load: a tampered file is refused, and nothing loads.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import IntegrityError, NotFoundError, ShipyardError
from shipyard.flavors import Predictor, TrustPolicy, get_flavor
from shipyard.refs import ModelRef
from shipyard.registry.service import resolve
from shipyard.store import ModelVersion, Stores
from shipyard.store.artifacts import file_digest
from shipyard.tags import REFERENCE_TAG


@dataclass(frozen=True, slots=True)
class Problem:
    """One artifact that failed verification."""

    path: str
    digest: str
    error: str


def verify_version(stores: Stores, version: ModelVersion) -> list[Problem]:
    """Re-hash every stored artifact of a version; an empty list means all intact."""
    problems = []
    digests = [(a.path, a.digest) for a in version.artifacts]
    if version.lineage.requirements_digest:
        digests.append(("(requirements)", version.lineage.requirements_digest))
    if REFERENCE_TAG in version.tags:
        digests.append(("(reference summary)", version.tags[REFERENCE_TAG]))
    for path, digest in digests:
        try:
            stores.artifacts.verify(digest)
        except (IntegrityError, NotFoundError) as err:
            problems.append(Problem(path, digest, err.message))
    return problems


def _verify_checkout(root: Path, version: ModelVersion) -> None:
    """Every listed file intact, and no file that is not listed (it could be imported)."""
    listed = {a.path for a in version.artifacts}
    extra = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in listed
    )
    if extra:
        raise IntegrityError(
            f"{version.model} v{version.version}: checkout {root} holds files that are not "
            f"part of the version: {', '.join(extra[:5])}",
            hint=f"delete {root} to check the version out again from the artifact store",
        )
    for artifact in version.artifacts:
        path = root / artifact.path
        if not path.is_file() or file_digest(path).digest != artifact.digest:
            raise IntegrityError(
                f"{version.model} v{version.version}: checked-out file {path} no longer matches "
                f"its digest {artifact.digest}",
                hint=f"delete {root} to check the version out again from the artifact store",
            )


def checkout(stores: Stores, version: ModelVersion, dest: Path | None = None) -> Path:
    """Materialise a version's files (verified) and return their directory.

    Without ``dest`` the files go to the shared checkout cache, read-only.
    """
    root = dest or stores.home / "checkouts" / version.content_digest.removeprefix("sha256:")
    if root.exists():
        _verify_checkout(root, version)
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=".checkout-"))
    try:
        for artifact in version.artifacts:
            stores.artifacts.copy_to(artifact.digest, staging / artifact.path)
            if dest is None:
                (staging / artifact.path).chmod(0o444)
        staging.replace(root)
    except OSError as err:
        if root.exists():  # another process checked it out first
            _verify_checkout(root, version)
            return root
        raise ShipyardError(
            f"could not check out {version.model} v{version.version}: {err}"
        ) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def load_version(
    stores: Stores, version: ModelVersion, trust: TrustPolicy | None = None
) -> Predictor:
    """Verify, check out and load a version with its flavor."""
    root = checkout(stores, version)
    entrypoint = version.entrypoint or ""
    return get_flavor(version.flavor).load(root, entrypoint, trust or TrustPolicy())


def load(stores: Stores, ref: ModelRef, trust: TrustPolicy | None = None) -> Predictor:
    """Resolve a reference and load the model it names."""
    return load_version(stores, resolve(stores, ref), trust)
