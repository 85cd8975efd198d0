"""A model's inferred signature, kept in the home by the model's content digest.

Inferring a signature loads the model, which imports its library: seconds for Keras over
torch or scikit-learn. A pipeline loads the candidate in its validation worker anyway; the
worker records the signature here, and packaging and registration, in the CLI's own
process, read it back instead of importing the library a second time. The key is the
content digest ``register`` gives the files, so any change to them is a new entry.
"""

from __future__ import annotations

import os
from pathlib import Path

from shipyard import jsonio
from shipyard.flavors import TrustPolicy, get_flavor
from shipyard.signature import Signature

CACHE_DIR = Path("cache") / "signatures"


def _path(home: Path, digest: str) -> Path:
    return home / CACHE_DIR / f"{digest.removeprefix('sha256:')}.json"


def inferred_signature(
    home: Path | None, digest: str, root: Path, flavor: str, entrypoint: str, trust: TrustPolicy
) -> Signature | None:
    """The signature of the model whose content is ``digest``: kept, or inferred by its
    flavor (which may raise, as loading the model may) and kept for the next caller."""
    path = _path(home, digest) if home is not None else None
    if path is not None:
        try:
            kept = jsonio.loads(path.read_bytes())
            return None if kept is None else Signature.from_stored(kept)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none kept yet, or a torn file: infer it again
    found = get_flavor(flavor).signature(root, entrypoint, trust)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            partial.write_bytes(jsonio.dumps(jsonio.to_data(found)))
            partial.replace(path)
        except OSError:
            pass  # a read-only home infers again next time
    return found
