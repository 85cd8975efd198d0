"""The protocol codec on its own: every client mistake becomes a 4xx with a reason."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from shipyard.serving.codec import ProtocolError, decode_v1, decode_v2, encode_v1, encode_v2
from shipyard.signature import Signature, TensorSpec

NUMBERS = Signature((TensorSpec("x", "FP32", (-1, 2)),), (TensorSpec("y", "INT64", (-1,)),))
TEXT = Signature((TensorSpec("text", "BYTES", (-1,)),), (TensorSpec("label", "BYTES", (-1,)),))


def tensor(**overrides: object) -> dict[str, object]:
    return {
        "inputs": [
            {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4], **overrides}
        ]
    }


def test_v2_decodes_flat_or_nested_data_to_the_declared_shape_and_type() -> None:
    [flat] = decode_v2(tensor(), NUMBERS)
    [nested] = decode_v2(tensor(data=[[1, 2], [3, 4]]), NUMBERS)
    assert flat.array.dtype == np.float32 and flat.array.shape == (2, 2)
    assert (flat.array == nested.array).all()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"data": [1, 2, 3, math.nan]}, "not finite"),
        ({"data": [1, 2, 3, "4"]}, "expected a number"),
        ({"datatype": "FP64"}, "datatype FP64, expected FP32"),
        ({"shape": [2, 3]}, "expected [-1, 2]"),
        ({"shape": [1, 2]}, "holds 2 values, data has 4"),
        ({"name": "z"}, "unknown input 'z'"),
        ({"shape": "2x2"}, "shape must be a list"),
        ({"datatype": "FLOAT"}, "unknown datatype"),
        ({"datatype": {}}, "must be strings"),
    ],
)
def test_v2_refuses_what_the_signature_does_not_allow(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_v2(tensor(**overrides), NUMBERS)
    assert message in err.value.message and err.value.status == 400


def test_v2_missing_fields_and_inputs() -> None:
    with pytest.raises(ProtocolError, match="lacks datatype, data"):
        decode_v2({"inputs": [{"name": "x", "shape": [1, 2]}]}, NUMBERS)
    two = Signature((TensorSpec("a", "FP32", (-1,)), TensorSpec("b", "FP32", (-1,))), ())
    with pytest.raises(ProtocolError, match="missing input"):
        decode_v2({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}, two)


def test_text_models_take_strings_and_answer_bytes() -> None:
    body = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["up", "down"]}]}
    [decoded] = decode_v2(body, TEXT)
    assert decoded.array.tolist() == ["up", "down"]
    assert encode_v2(np.array(["positive", "negative"]), TEXT) == [
        {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["positive", "negative"]}
    ]
    assert decode_v1({"instances": ["up", "down"]}, TEXT).tolist() == ["up", "down"]
    with pytest.raises(ProtocolError, match="not a string"):
        decode_v2({"inputs": [{**body["inputs"][0], "data": ["up", 3]}]}, TEXT)


def test_v1_rows_and_predictions() -> None:
    assert decode_v1({"instances": [[1, 2], [3, 4]]}, NUMBERS).shape == (2, 2)
    assert decode_v1({"inputs": [[1, 2]]}, NUMBERS).dtype == np.float32
    for bad in ({"instances": []}, {"instances": [[1, 2, 3]]}, {"rows": [[1, 2]]}, [[1, 2]]):
        with pytest.raises(ProtocolError):
            decode_v1(bad, NUMBERS)
    assert encode_v1(np.array([3, 1])) == {"predictions": [3, 1]}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1, True]], "element 1 is True, expected a number"),
        ([[1, "2"]], "element 1 is '2', expected a number"),
        ([[1, float("inf")]], "NaN and infinity are refused"),
        ([[1, 2], [3]], "expected rows of [2] values"),
        ([[1, [2]]], "expected a number"),
        ([1, 2], "expected rows of [2] values"),
    ],
)
def test_v1_numeric_rows_are_checked_element_by_element(rows: Any, message: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_v1({"instances": rows}, NUMBERS)
    assert message in err.value.message


def test_v1_rows_of_more_than_one_dimension_follow_the_signature() -> None:
    images = Signature((TensorSpec("x", "FP32", (-1, 2, 2)),), ())
    assert decode_v1({"instances": [[[1, 2], [3, 4]]]}, images).shape == (1, 2, 2)
    with pytest.raises(ProtocolError, match=r"rows of \[2, 2\] values"):
        decode_v1({"instances": [[1, 2, 3, 4]]}, images)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: decode_v1({"instances": [[]]}, None), "holds no values"),
        (lambda: decode_v1({"instances": [[1, 2], [3]]}, None), "differ in length"),
        (
            lambda: decode_v2(
                {"inputs": [{"name": "x", "shape": [1], "datatype": "UINT8", "data": [300]}]},
                None,
            ),
            "out of range",
        ),
        (
            lambda: decode_v2(
                {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [2**63]}]},
                None,
            ),
            "out of range",
        ),
    ],
)
def test_values_a_type_cannot_hold_and_ragged_rows_are_client_errors(
    call: Any, message: str
) -> None:
    with pytest.raises(ProtocolError) as err:
        call()
    assert err.value.status == 400 and message in err.value.message


def test_answers_that_are_objects_or_bytes_become_plain_json() -> None:
    rows = np.array([{"label": "cat"}, {"label": "dog"}], dtype=object)
    assert encode_v1(rows) == {"predictions": [{"label": "cat"}, {"label": "dog"}]}
    assert encode_v2(np.array([b"yes", "no"], dtype=object), None)[0]["data"] == ["yes", "no"]


def test_binary_tensor_data_follows_the_json_header() -> None:
    from shipyard.serving.codec import attach_binary

    values = np.array([[1.5, 2.5]], dtype="<f4").tobytes()
    words = b"".join(len(w).to_bytes(4, "little") + w for w in (b"good", b"news"))
    body = {
        "inputs": [
            {
                "name": "x",
                "shape": [1, 2],
                "datatype": "FP32",
                "parameters": {"binary_data_size": 8},
            },
            {
                "name": "t",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": 16},
            },
        ]
    }
    tensors = decode_v2(attach_binary(body, values + words), None)
    assert tensors[0].array.tolist() == [[1.5, 2.5]] and tensors[0].array.dtype == np.float32
    assert tensors[1].array.tolist() == ["good", "news"]
    overrun = {"inputs": [{"name": "x", "datatype": "FP32", "parameters": {"binary_data_size": 9}}]}
    with pytest.raises(ProtocolError, match="overruns the body"):
        attach_binary(overrun, values)
    with pytest.raises(ProtocolError, match="4 bytes of binary data belong to no input"):
        attach_binary({"inputs": []}, b"\0\0\0\0")
