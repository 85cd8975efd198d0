"""ONNX models, run with onnxruntime on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.flavors.base import Predictor, TrustPolicy, single_file
from shipyard.signature import Signature, TensorSpec

# onnxruntime reports element types as 'tensor(float)' and so on.
_ORT_TYPES = {
    "tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(float16)": "FP16",
    "tensor(int8)": "INT8", "tensor(int16)": "INT16", "tensor(int32)": "INT32",
    "tensor(int64)": "INT64", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32", "tensor(uint64)": "UINT64", "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}  # fmt: skip
_NUMPY = {"FP32": "float32", "FP64": "float64", "FP16": "float16", "INT64": "int64",
          "INT32": "int32", "BOOL": "bool"}  # fmt: skip


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else -1 for d in arg.shape)
    return TensorSpec(arg.name, _ORT_TYPES.get(arg.type, "BYTES"), shape)


class OnnxPredictor:
    """An onnxruntime session fed by its first input, answering with its first output."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.dtype = _NUMPY.get(_ORT_TYPES.get(first.type, ""), "float32")

    def predict(self, inputs: Any) -> Any:
        """Run the graph on one batch."""
        import numpy as np

        batch = np.asarray(inputs, dtype=self.dtype)
        return self.session.run(None, {self.input_name: batch})[0]


class OnnxFlavor:
    """Adapter for ``.onnx`` files."""

    name = "onnx"

    def detect(self, path: Path) -> str | None:
        """An ``.onnx`` file."""
        return single_file(path, (".onnx",))

    def load(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Predictor:
        """Open an inference session (ONNX holds no code, so trust is not consulted)."""
        return OnnxPredictor(root / entrypoint)

    def signature(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Signature | None:
        """Inputs and outputs as the graph declares them."""
        session = OnnxPredictor(root / entrypoint).session
        return Signature(
            inputs=tuple(_spec(a) for a in session.get_inputs()),
            outputs=tuple(_spec(a) for a in session.get_outputs()),
        )


FLAVOR = OnnxFlavor()
