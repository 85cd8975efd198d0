"""Request and response bodies of the two inference protocols, checked against a signature.

KServe V1 (``{"instances": [...]}`` or ``{"inputs": [...]}`` → ``{"predictions": [...]}``)
and the Open Inference Protocol V2 (typed tensors: name, shape, datatype, data in
row-major order, flat or nested). Everything a client can get wrong becomes a
``ProtocolError`` with the HTTP status to answer and a message that says what was
wrong, where, and what was expected — never a 500.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.signature import Signature, TensorSpec, datatype_from_numpy

_NUMPY = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}  # fmt: skip


class ProtocolError(Exception):
    """A client mistake: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Tensor:
    """A decoded input: its name and a numpy array of the declared shape and type."""

    name: str
    array: Any


def _shape_ok(shape: list[int], declared: tuple[int, ...]) -> bool:
    return len(shape) == len(declared) and all(
        d in (-1, s) for s, d in zip(shape, declared, strict=True)
    )


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise ProtocolError("tensor 'data' must be a list (flat, row-major, or nested)")
    if data and isinstance(data[0], list):
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item))
        return out
    return data


def _check_values(name: str, datatype: str, values: list[Any]) -> None:
    if datatype == "BYTES":
        bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
        if bad is not None:
            raise ProtocolError(f"input {name!r}: element {bad} is not a string (datatype BYTES)")
        return
    if datatype == "BOOL":
        bad = next((i for i, v in enumerate(values) if not isinstance(v, bool)), None)
        if bad is not None:
            raise ProtocolError(f"input {name!r}: element {bad} is not true/false (datatype BOOL)")
        return
    integral = not datatype.startswith("FP")
    kinds = set(map(type, values))  # the common case checked at C speed
    if kinds <= ({int} if integral else {int, float}) and (
        integral or float not in kinds or all(map(math.isfinite, values))
    ):
        return
    for i, v in enumerate(values):
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or (integral and isinstance(v, float))
        ):
            kind = "an integer" if integral else "a number"
            raise ProtocolError(
                f"input {name!r}: element {i} is {v!r}, expected {kind} ({datatype})"
            )
        if not integral and not math.isfinite(v):
            raise ProtocolError(
                f"input {name!r}: element {i} is not finite (NaN and infinity are refused)"
            )


def decode_v2(body: Any, signature: Signature | None) -> list[Tensor]:
    """The ``inputs`` of a V2 infer request as arrays, checked against ``signature``."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise ProtocolError("request body must be an object with a non-empty 'inputs' list")
    declared = {t.name: t for t in signature.inputs} if signature else {}
    tensors = []
    for position, item in enumerate(body["inputs"]):
        where = f"inputs[{position}]"
        if not isinstance(item, dict):
            raise ProtocolError(f"{where} must be an object with name, shape, datatype and data")
        missing = [k for k in ("name", "shape", "datatype", "data") if k not in item]
        if missing:
            raise ProtocolError(f"{where} lacks {', '.join(missing)}")
        name, shape, datatype = item["name"], item["shape"], item["datatype"]
        if not isinstance(name, str) or not isinstance(datatype, str):
            raise ProtocolError(f"{where}: 'name' and 'datatype' must be strings")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ProtocolError(f"input {name!r}: shape must be a list of non-negative integers")
        if datatype not in _NUMPY:
            raise ProtocolError(f"input {name!r}: unknown datatype {datatype!r}")
        spec: TensorSpec | None = declared.get(name)
        if declared and spec is None:
            raise ProtocolError(f"unknown input {name!r}; the model takes: {', '.join(declared)}")
        if spec is not None:
            if datatype != spec.datatype:
                raise ProtocolError(
                    f"input {name!r}: datatype {datatype}, expected {spec.datatype}"
                )
            if not _shape_ok(shape, spec.shape):
                raise ProtocolError(
                    f"input {name!r}: shape {shape}, expected {list(spec.shape)} (-1: any size)"
                )
        data = item["data"]
        binary = isinstance(data, np.ndarray)  # from the binary tensor data extension
        values = data if binary else _flatten(data)
        if math.prod(shape) != len(values):
            raise ProtocolError(
                f"input {name!r}: shape {shape} holds {math.prod(shape)} values, "
                f"data has {len(values)}"
            )
        if binary:
            if data.dtype.kind == "f" and not np.isfinite(data).all():
                raise ProtocolError(f"input {name!r}: NaN and infinity are refused")
            tensors.append(Tensor(name, data.reshape(shape)))
            continue
        _check_values(name, datatype, values)
        tensors.append(Tensor(name, _array(values, _NUMPY[datatype], name).reshape(shape)))
    absent = [n for n in declared if n not in {t.name for t in tensors}]
    if absent:
        raise ProtocolError(f"missing input(s): {', '.join(absent)}")
    return tensors


def attach_binary(body: Any, blob: bytes) -> Any:
    """Inputs sent with the binary tensor data extension (Triton's clients do by default):
    each input with ``parameters.binary_data_size`` takes its bytes, in order, from after
    the JSON header — little-endian values, BYTES as 4-byte length + bytes per element."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        return body
    offset = 0
    for item in body["inputs"]:
        parameters = item.get("parameters") if isinstance(item, dict) else None
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        if size is None:
            continue
        name, datatype = item.get("name"), item.get("datatype")
        if not isinstance(size, int) or size < 0 or offset + size > len(blob):
            raise ProtocolError(f"input {name!r}: binary_data_size {size!r} overruns the body")
        if datatype not in _NUMPY:
            raise ProtocolError(f"input {name!r}: unknown datatype {datatype!r}")
        chunk = blob[offset : offset + size]
        offset += size
        item["data"] = _strings(chunk, name) if datatype == "BYTES" else _values(chunk, datatype)
    if offset != len(blob):
        raise ProtocolError(f"{len(blob) - offset} bytes of binary data belong to no input")
    return body


def _values(chunk: bytes, datatype: str) -> Any:
    dtype = np.dtype(_NUMPY[datatype]).newbyteorder("<")
    if len(chunk) % dtype.itemsize:
        raise ProtocolError(f"binary data of {len(chunk)} bytes is not whole {datatype} values")
    return np.frombuffer(chunk, dtype=dtype).astype(_NUMPY[datatype])


def _strings(chunk: bytes, name: Any) -> Any:
    items, offset = [], 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise ProtocolError(f"input {name!r}: a BYTES element's length is cut short")
        length = int.from_bytes(chunk[offset : offset + 4], "little")
        offset += 4
        items.append(chunk[offset : offset + length].decode("utf-8", "replace"))
        offset += length
    return np.array(items, dtype=object)


def decode_v1(body: Any, signature: Signature | None) -> Any:
    """The rows of a V1 predict request (``instances`` or ``inputs``) as one array."""
    if not isinstance(body, dict):
        raise ProtocolError("request body must be an object with 'instances' or 'inputs'")
    rows = body.get("instances", body.get("inputs"))
    if not isinstance(rows, list) or not rows:
        raise ProtocolError("'instances' (or 'inputs') must be a non-empty list of rows")
    spec = signature.inputs[0] if signature and signature.inputs else None
    if spec is None:
        flat = _flatten(rows)
        if not flat:
            raise ProtocolError("'instances' holds no values")
        _check_values("instances", "BYTES" if isinstance(flat[0], str) else "FP64", flat)
        return _array(rows, None, "instances")
    datatype = spec.datatype
    if len(spec.shape) >= 2 and datatype not in ("BYTES", "BOOL"):
        return _numeric_rows(rows, spec)
    _check_values("instances", datatype, _flatten(rows))
    array = _array(rows, _NUMPY[datatype], "instances")
    if not _shape_ok(list(array.shape), spec.shape):
        expected = "strings" if datatype == "BYTES" else f"rows of {list(spec.shape[1:])} values"
        raise ProtocolError(f"instances: expected {expected}, shape {list(spec.shape)}")
    return array


def _numeric_rows(rows: list[Any], spec: TensorSpec) -> Any:
    """Rows of numbers (the common case), checked with C-speed passes over the data."""
    integral = not spec.datatype.startswith("FP")
    expected = (
        f"instances: expected rows of {list(spec.shape[1:])} values, shape {list(spec.shape)}"
    )
    kinds: set[type] = set()
    if len(spec.shape) == 2:
        width = spec.shape[1]
        for row in rows:
            if type(row) is not list or (width != -1 and len(row) != width):
                raise ProtocolError(expected)
            kinds.update(map(type, row))
    else:
        kinds.update(map(type, _flatten(rows)))
    if not kinds <= ({int} if integral else {int, float}):
        _check_values("instances", spec.datatype, _flatten(rows))  # names the bad element
    array = _array(rows, _NUMPY[spec.datatype], "instances")
    if not _shape_ok(list(array.shape), spec.shape):
        raise ProtocolError(expected)
    if not integral and not np.isfinite(array).all():
        raise ProtocolError("instances: NaN and infinity are refused")
    return array


def _array(values: Any, dtype: Any, where: str) -> Any:
    """``values`` as an array; ragged nesting or numbers out of the type's range are 400s."""
    try:
        return np.array(values, dtype=dtype)
    except OverflowError as err:
        raise ProtocolError(f"{where}: a value is out of range: {err}") from None
    except ValueError:
        raise ProtocolError(f"{where}: rows differ in length or nesting") from None


def encode_v2(outputs: Any, signature: Signature | None) -> list[dict[str, Any]]:
    """A model's answer as V2 output tensors (data flattened, row-major)."""
    array = np.asarray(outputs)
    name = signature.outputs[0].name if signature and signature.outputs else "output-0"
    kind = array.dtype.kind
    datatype = "BYTES" if kind in "USO" else datatype_from_numpy(array.dtype.name)
    return [
        {
            "name": name,
            "shape": list(array.shape),
            "datatype": datatype,
            "data": _plain(array.reshape(-1)),
        }
    ]


def encode_v1(outputs: Any) -> dict[str, Any]:
    """A model's answer as a V1 ``predictions`` list."""
    array = np.asarray(outputs)
    return {"predictions": _plain(array)}


def _plain(array: Any) -> Any:
    """An answer as JSON-ready lists: bytes as text, objects (a dict per row) as they are."""
    if array.dtype.kind in "US":
        return array.astype(str).tolist()
    if array.dtype.kind == "O":
        return _texts(array.tolist())
    return array.tolist()


def _texts(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_texts(v) for v in value]
    return value
