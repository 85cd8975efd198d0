"""Keras 3 models (``.keras`` files), on whichever backend Keras runs on.

Keras takes its backend from ``KERAS_BACKEND``; when that is unset, this flavor
picks the first of tensorflow, torch and jax that is installed (Keras's own
default, tensorflow, is often absent where torch is present). Files load in
Keras's safe mode, which refuses ``Lambda`` layers holding Python code unless
the version is loaded with pickle-level trust.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from shipyard.flavors.base import Predictor, TrustPolicy, single_file
from shipyard.signature import Signature, TensorSpec, datatype_from_numpy

BACKENDS = ("tensorflow", "torch", "jax")


def _keras() -> Any:
    if "KERAS_BACKEND" not in os.environ:
        installed = next((b for b in BACKENDS if importlib.util.find_spec(b) is not None), None)
        if installed is not None:
            os.environ["KERAS_BACKEND"] = installed
    import keras

    return keras


def _spec(name: str, tensor: Any) -> TensorSpec:
    shape = tuple(-1 if d is None else int(d) for d in tensor.shape)
    return TensorSpec(name, datatype_from_numpy(str(tensor.dtype)), shape)


class KerasPredictor:
    """A loaded Keras model, predicting one batch per call."""

    def __init__(self, path: Path, trust: TrustPolicy) -> None:
        keras = _keras()
        self.model = keras.saving.load_model(path, safe_mode=not trust.pickle)
        self.dtype = str(self.model.inputs[0].dtype)

    def predict(self, inputs: Any) -> Any:
        """Run the model on one batch (no per-call data pipeline, unlike ``model.predict``)."""
        import numpy as np

        return np.asarray(self.model.predict_on_batch(np.asarray(inputs, dtype=self.dtype)))


class KerasFlavor:
    """Adapter for ``.keras`` files."""

    name = "keras"

    def detect(self, path: Path) -> str | None:
        """A ``.keras`` file."""
        return single_file(path, (".keras",))

    def load(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Predictor:
        """Load the model in safe mode (Lambda layers need pickle-level trust)."""
        return KerasPredictor(root / entrypoint, trust)

    def signature(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Signature | None:
        """The model's declared inputs and outputs (batch axis as -1)."""
        model = KerasPredictor(root / entrypoint, trust).model
        return Signature(
            inputs=tuple(_spec(f"input-{i}", t) for i, t in enumerate(model.inputs)),
            outputs=tuple(_spec(f"output-{i}", t) for i, t in enumerate(model.outputs)),
        )


FLAVOR = KerasFlavor()
