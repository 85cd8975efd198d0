"""The flavor protocol: how a kind of model file is recognised, described and loaded.

A flavor is a small adapter module. The registry uses ``detect`` and
``signature`` when a version is registered; serving uses ``load``. Model
libraries are imported inside the functions, never at module import, so the
CLI stays fast when it does not touch a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shipyard.signature import Signature


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """What a load may execute beyond a flavor's safe defaults.

    ``types`` lists extra fully-qualified types a skops file may contain;
    ``pickle`` allows pickle-based formats (joblib, .pkl), which can run any code.
    """

    types: tuple[str, ...] = ()
    pickle: bool = False


class Predictor(Protocol):
    """A loaded model."""

    def predict(self, inputs: Any) -> Any:
        """Predict a batch: ``inputs`` is array-like with the batch as first axis."""
        ...


class Flavor(Protocol):
    """One kind of model."""

    name: str

    def detect(self, path: Path) -> str | None:
        """If ``path`` (a file or directory) is of this flavor, its entrypoint, else ``None``.

        The entrypoint is the main file relative to ``path`` (or ``module:Class``
        for custom models); for a single file it is the file's name.
        """
        ...

    def signature(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Signature | None:
        """Describe the inputs and outputs of the model at ``root``, when it can be told."""
        ...

    def load(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Predictor:
        """Load the model at ``root`` for prediction."""
        ...


def single_file(path: Path, suffixes: tuple[str, ...]) -> str | None:
    """The entrypoint for a file, or a directory holding one file, with one of ``suffixes``."""
    if path.is_file():
        return path.name if path.suffix in suffixes else None
    if path.is_dir():
        matches = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix in suffixes)
        return matches[0] if len(matches) == 1 else None
    return None
