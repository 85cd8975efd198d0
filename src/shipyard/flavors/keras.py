"""Keras 3 models (``.keras`` files), on whichever backend Keras runs on.

Keras takes its backend from ``KERAS_BACKEND``; when that is unset, this flavor
picks the first of tensorflow, torch and jax that is installed (Keras's own
default, tensorflow, is often absent where torch is present). Files load in
Keras's safe mode, which refuses ``Lambda`` layers holding Python code unless
the version is loaded with pickle-level trust. A file saved by a newer Keras than
the one installed is refused by name, before Keras fails on it somewhere inside.

A text model keeps its tokenizer beside the file (``tokenizer.json``, see
``shipyard.text``): then the version takes strings (one ``BYTES`` input, ``text``)
and the flavor turns them into token ids.
"""

from __future__ import annotations

import importlib.util
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInputError, UntrustedModelError
from shipyard.flavors.base import Predictor, TrustPolicy, single_file
from shipyard.signature import Signature, TensorSpec, datatype_from_numpy

if TYPE_CHECKING:
    from shipyard.text import Tokenizer

BACKENDS = ("tensorflow", "torch", "jax")


def _installed_backend() -> str | None:
    return next((b for b in BACKENDS if importlib.util.find_spec(b) is not None), None)


def _keras() -> Any:
    if "KERAS_BACKEND" not in os.environ:
        installed = _installed_backend()
        if installed is not None:
            os.environ["KERAS_BACKEND"] = installed
    import keras

    return keras


def backend_name() -> str:
    """The backend Keras runs on here, without importing Keras: ``KERAS_BACKEND``, else the
    first installed, else Keras's own default."""
    return os.environ.get("KERAS_BACKEND") or _installed_backend() or "tensorflow"


def backend_distributions() -> tuple[str, list[str]]:
    """The backend Keras runs on here and the distributions that install it (torch →
    torch; tensorflow → tensorflow or tensorflow-cpu), for a bundle's pins: Keras depends
    on no backend, so an image of a Keras version would have none."""
    from importlib.metadata import packages_distributions

    from shipyard.errors import ShipyardError

    name = backend_name()
    distributions = sorted(set(packages_distributions().get(name) or ()))
    if not distributions:
        raise ShipyardError(
            f"a Keras version serves on the backend Keras runs on here ({name}), and {name} "
            "is not installed here, so its version cannot be pinned",
            hint=f"install {name} where the model is packaged (the version it trained on), or "
            "set KERAS_BACKEND to a backend that is installed (tensorflow, torch or jax)",
        )
    return name, distributions


def saved_by(path: Path) -> str | None:
    """The Keras version that wrote a ``.keras`` file (its ``metadata.json``), if it says."""
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    found = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return str(found) if found else None


def _check_version(path: Path, installed: str) -> None:
    from packaging.version import InvalidVersion, Version

    wrote = saved_by(path)
    try:
        newer = wrote is not None and Version(wrote) > Version(installed)
    except InvalidVersion:
        return
    if newer:
        raise InvalidInputError(
            f"{path.name} was saved by Keras {wrote}, newer than this Keras {installed}: "
            "its layers may not load",
            hint=f"install keras>={wrote} where it is served (pip install 'keras>={wrote}'), "
            "or save the model with the Keras that serves it",
        )


def _spec(name: str, tensor: Any) -> TensorSpec:
    shape = tuple(-1 if d is None else int(d) for d in tensor.shape)
    return TensorSpec(name, datatype_from_numpy(str(tensor.dtype)), shape)


class KerasPredictor:
    """A loaded Keras model, predicting one batch per call."""

    def __init__(self, path: Path, trust: TrustPolicy) -> None:
        keras = _keras()
        _check_version(path, keras.__version__)
        try:
            self.model = keras.saving.load_model(path, safe_mode=not trust.pickle)
        except ValueError as err:
            if "safe_mode" not in str(err):
                raise
            raise UntrustedModelError(
                f"{path.name} holds a Lambda layer, whose Python code runs when it loads",
                hint="replace the Lambda with a built-in or registered layer, or pass "
                "--trust-pickle if you trust where this file came from",
            ) from None
        self.dtype = str(self.model.inputs[0].dtype)

    def predict(self, inputs: Any) -> Any:
        """Run the model on one batch (no per-call data pipeline, unlike ``model.predict``)."""
        import numpy as np

        return np.asarray(self.model.predict_on_batch(np.asarray(inputs, dtype=self.dtype)))

    def inputs(self) -> tuple[TensorSpec, ...]:
        """The model's declared inputs (batch axis as -1)."""
        return tuple(_spec(f"input-{i}", t) for i, t in enumerate(self.model.inputs))

    def signature(self) -> Signature:
        """The model's inputs and outputs (batch axis as -1)."""
        return Signature(
            inputs=self.inputs(),
            outputs=tuple(_spec(f"output-{i}", t) for i, t in enumerate(self.model.outputs)),
        )


class KerasTextPredictor(KerasPredictor):
    """A Keras model of token ids with its tokenizer: it takes one string per row."""

    drift_names = ("words", "oov_rate")

    def __init__(self, path: Path, trust: TrustPolicy, tokenizer: Tokenizer) -> None:
        super().__init__(path, trust)
        self.tokenizer = tokenizer

    def predict(self, inputs: Any) -> Any:
        """Token ids from the strings, then the model on them."""
        import numpy as np

        rows = np.asarray(inputs, dtype=object).reshape(-1)
        return np.asarray(self.model.predict_on_batch(self.tokenizer.encode(rows)))

    def drift_features(self, texts: Any) -> Any:
        """Per row: its words, and the share of them outside the vocabulary (``drift_names``)."""
        return self.tokenizer.stats(texts)

    def inputs(self) -> tuple[TensorSpec, ...]:
        """One string per row: ``text``."""
        return (TensorSpec("text", "BYTES", (-1,)),)


def load(path: Path, trust: TrustPolicy) -> KerasPredictor:
    """The model at ``path``, with the tokenizer beside it when there is one."""
    from shipyard.text import FILE, Tokenizer

    beside = path.with_name(FILE)
    if beside.is_file():
        return KerasTextPredictor(path, trust, Tokenizer.load(beside))
    return KerasPredictor(path, trust)


class KerasFlavor:
    """Adapter for ``.keras`` files."""

    name = "keras"

    def detect(self, path: Path) -> str | None:
        """A ``.keras`` file (or a directory holding one, beside its tokenizer)."""
        return single_file(path, (".keras",))

    def load(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Predictor:
        """Load the model in safe mode (Lambda layers need pickle-level trust)."""
        return load(root / entrypoint, trust)

    def signature(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Signature | None:
        """The model's declared inputs and outputs (batch axis as -1)."""
        return load(root / entrypoint, trust).signature()


FLAVOR = KerasFlavor()
