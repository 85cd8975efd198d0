"""Import ``skops.io`` without it importing PyTorch, CuPy or Dask.

skops builds its list of trusted scikit-learn types with ``sklearn.utils.all_estimators``,
which walks every scikit-learn subpackage, importing each, ``sklearn.externals.
array_api_compat.torch`` included: with torch installed, loading a 30 kB skops file then
imports torch too (1.2 s of a 3 s import here). The walk skips a subpackage whose import
fails, which is what it meets when torch is not installed; this module makes those array
namespaces' imports fail while ``skops.io`` is first imported, so skops trusts the same
types (no estimator lives there) and a later import of them works as usual.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

COMPAT = "sklearn.externals.array_api_compat."
# The array libraries scikit-learn's array API support wraps, each imported by the walk.
WRAPPED = ("torch", "cupy", "dask")


class _SkipArrayNamespaces(importlib.abc.MetaPathFinder):
    """Refuse the wrappers of array libraries not imported yet."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        library = fullname.removeprefix(COMPAT)
        if library != fullname and library in WRAPPED and library not in sys.modules:
            raise ImportError(f"{fullname} is not needed to read skops files", name=fullname)
        return None


def skops_io() -> ModuleType:
    """The ``skops.io`` module, imported without the array libraries it does not need."""
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    finder = _SkipArrayNamespaces()
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module("skops.io")
    finally:
        sys.meta_path.remove(finder)
