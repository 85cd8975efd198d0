"""Input/output signatures in Open Inference Protocol (V2) terms.

A signature names each tensor, its V2 datatype and its shape (``-1`` for a
dimension of any size, normally the batch). Serving checks requests against it;
the registry records it with each version when the flavor can tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInputError

DATATYPES = (
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
)  # fmt: skip

_NUMPY_KINDS = {
    "bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32",
    "uint64": "UINT64", "int8": "INT8", "int16": "INT16", "int32": "INT32",
    "int64": "INT64", "float16": "FP16", "float32": "FP32", "float64": "FP64",
}  # fmt: skip


def datatype_from_numpy(dtype_name: str) -> str:
    """Map a numpy dtype name to its V2 datatype (strings and objects become BYTES)."""
    return _NUMPY_KINDS.get(dtype_name, "BYTES")


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One named tensor: V2 datatype and shape (``-1`` = any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> TensorSpec:
        """Parse and check one tensor description; ``where`` names it in errors."""
        try:
            name, datatype, shape = data["name"], data["datatype"], data["shape"]
        except (KeyError, TypeError):
            raise InvalidInputError(
                f"{where}: a tensor needs 'name', 'datatype' and 'shape'",
                hint='e.g. {"name": "input-0", "datatype": "FP32", "shape": [-1, 64]}',
            ) from None
        if datatype not in DATATYPES:
            raise InvalidInputError(
                f"{where}: unknown datatype {datatype!r}", hint=f"one of {', '.join(DATATYPES)}"
            )
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= -1 for d in shape):
            raise InvalidInputError(
                f"{where}: shape must be a list of sizes (-1 for any), got {shape!r}"
            )
        return cls(str(name), datatype, tuple(shape))


@dataclass(frozen=True, slots=True)
class Signature:
    """A model's inputs and outputs."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @classmethod
    def from_dict(cls, data: Any, where: str = "signature") -> Signature:
        """Parse the JSON form, with errors that name the offending entry."""
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), list):
            raise InvalidInputError(
                f"{where}: expected an object with 'inputs' (and 'outputs') lists"
            )
        outputs = data.get("outputs", [])
        if not isinstance(outputs, list):
            raise InvalidInputError(f"{where}: 'outputs' must be a list")
        return cls(
            tuple(
                TensorSpec.from_dict(t, f"{where}.inputs[{i}]")
                for i, t in enumerate(data["inputs"])
            ),
            tuple(TensorSpec.from_dict(t, f"{where}.outputs[{i}]") for i, t in enumerate(outputs)),
        )

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Signature:
        """Rebuild a signature this package wrote itself (already checked: no re-validation)."""
        return cls(
            tuple(TensorSpec(t["name"], t["datatype"], tuple(t["shape"])) for t in data["inputs"]),
            tuple(TensorSpec(t["name"], t["datatype"], tuple(t["shape"])) for t in data["outputs"]),
        )
