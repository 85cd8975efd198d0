"""The reference summary of a version's inputs: per-feature quantile bins and their shares.

Computed from the validation inputs (or a file given to ``shipyard register
--reference``), stored with the registered version, and read by the model
server, which counts live inputs into the same bins so that drift is a
comparison of shares (PSI). numpy only: the pipeline and the server both import
this module, and neither should pull the other's dependencies through it.

Format 1, as JSON::

    {"format": 1, "rows": 1797, "columns": 64, "bins": 10,
     "features": [{"name": "3", "edges": [0.0, 4.0, ...], "ratios": [0.52, ...]}, ...]}

A value ``v`` of a feature falls into bin ``i`` = the number of edges strictly
below ``v`` (``searchsorted(edges, v, side="left")``; NaN: the last bin), so a
value equal to an edge belongs to the bin below it — a feature that is mostly
0 keeps its zeros in bin 0. ``len(ratios) == len(edges) + 1``. Only the first ``MAX_FEATURES``
columns are summarised; ``columns`` says how many the input had.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.signature import Signature

FORMAT = 1
BINS = 10  # K: deciles give at most 9 interior edges
MAX_FEATURES = 256  # the first 256 columns: bounded series per version (256 x 10)
_DECILES = np.linspace(0.1, 0.9, BINS - 1)


def feature_rows(array: np.ndarray) -> np.ndarray:
    """Rows of features: an image's (or any input of more than two axes) pixels are its
    features, one row per input."""
    return array.reshape(len(array), -1) if array.ndim > 2 else array


def as_matrix(inputs: Any, where: str) -> np.ndarray:
    """``inputs`` as a 2-D float array, or ``InvalidInputError`` saying why it is not one."""
    try:
        array = np.asarray(inputs)
    except (ValueError, TypeError) as err:
        raise InvalidInputError(f"{where}: not an array of numbers: {err}") from None
    if array.dtype.kind in "biuf":
        array = feature_rows(array)
    if array.ndim != 2:
        raise InvalidInputError(
            f"{where}: expected a 2-D array (rows x features), got {array.ndim}-D "
            f"of shape {list(array.shape)}",
            hint="a reference summary is per feature: one row per input, one column per feature",
        )
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"{where}: expected numbers, got values of type {array.dtype}",
            hint="drift is measured on numeric features only",
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidInputError(f"{where}: holds no values (shape {list(array.shape)})")
    return array.astype(np.float64, copy=False)


def column_names(signature: Signature | None, columns: int) -> list[str]:
    """Feature names: the signature's, when its inputs are one named column each (as many
    as the data has); else each column's index."""
    if (
        signature is not None
        and len(signature.inputs) == columns > 1
        and all(len(t.shape) == 1 or tuple(t.shape[1:]) == (1,) for t in signature.inputs)
    ):
        return [t.name for t in signature.inputs]
    return [str(i) for i in range(columns)]


def bin_edges(column: np.ndarray) -> np.ndarray:
    """The interior edges of one feature: its deciles, each value once (a constant
    feature has none, so one bin).

    Deciles are values the feature takes (``inverted_cdf``), and the largest value is
    never an edge, so no bin of the reference is empty: bin ``i`` holds ``edges[i]``
    itself, and the last bin holds the maximum."""
    finite = column[np.isfinite(column)]
    if finite.size == 0:
        return np.empty(0)
    edges: np.ndarray = np.unique(np.quantile(finite, _DECILES, method="inverted_cdf"))
    below_max: np.ndarray = edges[edges < finite.max()]
    return below_max


def bin_counts(edges: np.ndarray, values: np.ndarray, bins: int) -> np.ndarray:
    """How many ``values`` fall in each bin (at least ``bins`` counts): a value's bin is
    the number of edges strictly below it, NaN the last — for the summary and for the
    server's live counts alike."""
    counts: np.ndarray = np.bincount(np.searchsorted(edges, values, side="left"), minlength=bins)
    return counts


def summarize(
    features: Any, names: list[str] | None = None, where: str = "inputs"
) -> dict[str, Any]:
    """The reference summary of ``features`` (rows x columns); see the module's docstring."""
    matrix = as_matrix(features, where)
    rows, columns = matrix.shape
    names = names if names is not None and len(names) == columns else None
    summary: list[dict[str, Any]] = []
    for index in range(min(columns, MAX_FEATURES)):
        column = matrix[:, index]
        edges = bin_edges(column)
        ratios = bin_counts(edges, column, len(edges) + 1) / rows
        summary.append(
            {
                "name": names[index] if names else str(index),
                "edges": edges.tolist(),
                "ratios": ratios.tolist(),
            }
        )
    return {
        "format": FORMAT,
        "rows": int(rows),
        "columns": int(columns),
        "bins": BINS,
        "features": summary,
    }


def renamed(summary: dict[str, Any], signature: Signature | None) -> dict[str, Any]:
    """The summary with its features named after the signature's columns, when it has some;
    features the summary already names (a text model's derived ones) keep their names."""
    names = column_names(signature, int(summary["columns"]))
    features = [
        {**feature, "name": names[i] if str(feature["name"]) == str(i) else feature["name"]}
        for i, feature in enumerate(summary["features"])
    ]
    return {**summary, "features": features}


def check(summary: Any, where: str) -> dict[str, Any]:
    """A stored summary, checked to be format 1 with consistent edges and ratios."""
    try:
        ok = summary["format"] == FORMAT and int(summary["columns"]) >= len(summary["features"])
        for feature in summary["features"]:
            ok = ok and len(feature["ratios"]) == len(feature["edges"]) + 1 <= BINS
            ok = ok and isinstance(feature["name"], str)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidInputError(
            f"{where}: not a reference summary of format {FORMAT}",
            hint="make one with shipyard.reference_summary.summarize, or register with "
            "--reference FILE (a .npy or .csv of inputs)",
        )
    return dict(summary)


def read_inputs(path: Path) -> np.ndarray:
    """Reference inputs from a ``.npy`` file or a ``.csv`` of numbers (a header row of
    column names is skipped)."""
    where = str(path)
    if not path.is_file():
        raise InvalidInputError(f"{where}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InvalidInputError(f"{where}: cannot be read as a .npy array: {err}") from None
        return as_matrix(array, where)
    if suffix == ".csv":
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if row]
        if rows and not _numeric(rows[0]):
            rows = rows[1:]  # a header
        try:
            array = np.array([[float(cell) for cell in row] for row in rows])
        except ValueError as err:
            raise InvalidInputError(
                f"{where}: expected a CSV of numbers (one row per input): {err}"
            ) from None
        return as_matrix(array, where)
    raise InvalidInputError(
        f"{where}: reference inputs must be a .npy or a .csv file", hint="e.g. --reference X.npy"
    )


def _numeric(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True
