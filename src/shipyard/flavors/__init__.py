"""Model flavors, each a small adapter module behind the ``Flavor`` protocol.

Modules are imported on first use so that naming a flavor costs nothing until a
model is actually described or loaded.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from shipyard.errors import InvalidInputError
from shipyard.flavors.base import Flavor, Predictor, TrustPolicy

__all__ = ["FLAVOR_NAMES", "Flavor", "Predictor", "TrustPolicy", "detect_flavor", "get_flavor"]

FLAVOR_NAMES = ("sklearn", "pytorch", "onnx", "keras", "custom")


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; a clear error lists the known ones."""
    if name not in FLAVOR_NAMES:
        raise InvalidInputError(
            f"unknown flavor {name!r}", hint=f"choose one of: {', '.join(FLAVOR_NAMES)}"
        )
    module = importlib.import_module(f"shipyard.flavors.{name}")
    flavor: Flavor = module.FLAVOR
    return flavor


def detect_flavor(path: Path) -> tuple[str, str]:
    """Guess the flavor and entrypoint of a model file or directory."""
    for name in FLAVOR_NAMES:
        entrypoint = get_flavor(name).detect(path)
        if entrypoint is not None:
            return name, entrypoint
    raise InvalidInputError(
        f"cannot tell which flavor {path} is",
        hint="pass --flavor (sklearn: .skops; onnx: .onnx; pytorch: .pt2; "
        "custom: a directory with --entrypoint module:Class)",
    )
