"""scikit-learn models: skops files (safe, the default) or, when trusted, joblib/pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from shipyard.errors import InvalidInputError, UntrustedModelError
from shipyard.flavors import skops_import
from shipyard.flavors.base import Predictor, TrustPolicy, single_file
from shipyard.signature import Signature, TensorSpec, datatype_from_numpy

SAFE = (".skops",)
PICKLED = (".joblib", ".pkl", ".pickle")


class SklearnFlavor:
    """Adapter for scikit-learn estimators and pipelines."""

    name = "sklearn"

    def detect(self, path: Path) -> str | None:
        """A ``.skops`` file, or a pickle-family file (loading it then needs trust)."""
        return single_file(path, SAFE + PICKLED)

    def load(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Predictor:
        """Load the estimator; skops refuses types not trusted by default or by ``trust``."""
        path = root / entrypoint
        if path.suffix in PICKLED:
            if not trust.pickle:
                raise UntrustedModelError(
                    f"{entrypoint} is a pickle-based file, and loading it can run any code",
                    hint="save the model with skops (skops.io.dump) instead, or pass "
                    "--trust-pickle if you trust where this file came from",
                )
            import joblib

            return cast(Predictor, joblib.load(path))
        if path.suffix not in SAFE:
            raise InvalidInputError(
                f"{entrypoint}: not a scikit-learn model file ({SAFE + PICKLED})"
            )
        skops_io = skops_import.skops_io()
        untrusted = [t for t in skops_io.get_untrusted_types(file=path) if t not in trust.types]
        if untrusted:
            raise UntrustedModelError(
                f"{entrypoint} contains types that skops does not trust by default: "
                f"{', '.join(untrusted)}",
                hint="if you trust them, pass --trust " + " --trust ".join(untrusted),
            )
        return cast(Predictor, skops_io.load(path, trusted=list(trust.types)))

    def signature(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Signature | None:
        """Inputs from ``n_features_in_``; outputs from ``classes_`` (classifiers)."""
        model: Any = self.load(root, entrypoint, trust)
        classes = getattr(model, "classes_", None)
        out_type = "FP64" if classes is None else datatype_from_numpy(classes.dtype.name)
        outputs = (TensorSpec("output-0", out_type, (-1,)),)
        first = model.steps[0][1] if hasattr(model, "steps") else model
        if hasattr(first, "build_analyzer"):  # a text vectorizer: one string per row
            return Signature((TensorSpec("input-0", "BYTES", (-1,)),), outputs)
        n_features = getattr(model, "n_features_in_", None)
        if n_features is None:
            return None
        return Signature((TensorSpec("input-0", "FP32", (-1, int(n_features))),), outputs)


FLAVOR = SklearnFlavor()
