"""Custom models: a directory of Python code with a class that has ``load`` and ``predict``.

The entrypoint is ``module:Class`` (``model:DigitsModel`` → ``model.py`` in the
version's directory). The class is instantiated with no arguments, then
``load(path)`` receives the version's directory. An optional class attribute
``signature`` (the JSON form of a signature) describes inputs and outputs.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any, cast

from shipyard.errors import InvalidInputError
from shipyard.flavors.base import Predictor, TrustPolicy
from shipyard.signature import Signature

_ENTRYPOINT = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")


def parse_entrypoint(entrypoint: str) -> tuple[str, str]:
    """Split ``module:Class``; refuse anything else with the expected form."""
    match = _ENTRYPOINT.match(entrypoint)
    if match is None:
        raise InvalidInputError(
            f"custom model entrypoint {entrypoint!r} is not of the form module:Class",
            hint="e.g. --entrypoint model:DigitsModel for class DigitsModel in model.py",
        )
    return match.group(1), match.group(2)


def _load_class(root: Path, entrypoint: str) -> type[Any]:
    module_name, class_name = parse_entrypoint(entrypoint)
    file = root.joinpath(*module_name.split(".")).with_suffix(".py")
    if not file.is_file():
        raise InvalidInputError(f"custom model: {file.name} not found in {root}")
    # A name unique to this directory, so two versions of one model load side by side.
    unique = f"_shipyard_custom_{abs(hash(str(root)))}_{module_name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, file)
    if spec is None or spec.loader is None:
        raise InvalidInputError(f"custom model: cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    before = set(sys.modules)
    sys.modules[unique] = module
    sys.path.insert(0, str(root))  # so the model's own sibling modules import
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # keep checkouts exact
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique]
        raise
    finally:
        sys.path.remove(str(root))
        sys.dont_write_bytecode = write_bytecode
        # Forget the version's sibling modules by their plain names, so another version's
        # `helpers.py` is imported afresh instead of reusing this one's.
        for name in set(sys.modules) - before - {unique}:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if Path(origin).is_relative_to(root):
                del sys.modules[name]
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise InvalidInputError(f"custom model: {file.name} defines no class {class_name!r}")
    for method in ("load", "predict"):
        if not callable(getattr(cls, method, None)):
            raise InvalidInputError(f"custom model: class {class_name} has no {method}() method")
    return cls


class CustomFlavor:
    """Adapter for user classes."""

    name = "custom"

    def detect(self, path: Path) -> str | None:
        """Custom models are never guessed: they need ``--entrypoint module:Class``."""
        return None

    def load(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Predictor:
        """Import the class from the version's own files, instantiate it and call ``load``."""
        instance = _load_class(root, entrypoint)()
        instance.load(root)
        return cast(Predictor, instance)

    def signature(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Signature | None:
        """The class's ``signature`` attribute, if it has one."""
        declared = getattr(_load_class(root, entrypoint), "signature", None)
        return (
            None if declared is None else Signature.from_dict(declared, f"{entrypoint}.signature")
        )


FLAVOR = CustomFlavor()
