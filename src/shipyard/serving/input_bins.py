"""Live inputs counted into the reference's quantile bins, per feature: what drift (PSI,
``monitor/drift.py``) is computed from.

A version registered with a reference summary (``reference_summary.py``) gets
one ``InputBins`` per worker. A request only hands over its input array (a
check of its shape and a list append); at most once a second, a timer that the
first input after a flush arms bins everything held — one ``searchsorted``
and one ``bincount`` per feature over all the rows — and adds the counts to the
Prometheus counters — so counts reach ``/metrics`` within about a second even when
traffic stops, and an idle worker wakes for nothing. (Binning each request as
it came cost ~12 µs, 15 % of a digits request at 2 workers; binning a second's
rows at once costs about 1 µs a row.) Every bin's counter
exists (at 0) from load, so PromQL ratios see every series. Images and other
inputs of more than two axes count as their flattened rows (a pixel is a feature).
A model whose inputs are not numbers derives the features drift is measured on
(``derive``: a text model's words per row and share of unknown words). Inputs
that do not match the reference's column count are not counted; drift counting
never fails a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.reference_summary import BINS, bin_counts, feature_rows
from shipyard.serving.metrics import INPUT_BINS, REFERENCE_RATIO

FLUSH_S = 1.0
MAX_HELD_ROWS = 100_000  # rows held between flushes: past that, binned at once


class InputBins:
    """One version's live bin counts in this worker, and their Prometheus series."""

    def __init__(
        self,
        reference: dict[str, Any],
        labels: dict[str, str],
        derive: Callable[[Any], Any] | None = None,
    ) -> None:
        self.columns = int(reference["columns"])
        self.derive = derive
        # a constant feature (one bin) cannot drift between bins: it is not counted
        kept = [(i, f) for i, f in enumerate(reference["features"]) if f["edges"]]
        self.indices = np.array([i for i, _ in kept], dtype=np.intp)
        self.names = [str(f["name"]) for _, f in kept]
        self.edges = [np.asarray(f["edges"], dtype=np.float64) for _, f in kept]
        self.counts = np.zeros(len(kept) * BINS, dtype=np.int64)
        self._children: list[Any] = [None] * len(self.counts)
        for row, (_, feature) in enumerate(kept):
            for number, ratio in enumerate(feature["ratios"]):
                series = {**labels, "feature": self.names[row], "bin": str(number)}
                self._children[row * BINS + number] = INPUT_BINS.labels(**series)
                REFERENCE_RATIO.labels(**series).set(ratio)
        self._held: list[np.ndarray] = []
        self._held_rows = 0
        self._timer: asyncio.TimerHandle | None = None

    def observe(self, inputs: Any) -> None:
        """Take the rows of one answered request, to be counted at the next flush (on the
        event loop; the array is only read, later)."""
        if not isinstance(inputs, np.ndarray) or inputs.ndim < 1 or not len(self.names):
            return
        if self.derive is None:
            if inputs.ndim < 2 or inputs.dtype.kind not in "biuf":
                return
            if int(np.prod(inputs.shape[1:])) != self.columns:
                return
        self._held.append(inputs)
        self._held_rows += len(inputs)
        if self._held_rows >= MAX_HELD_ROWS:
            self._count()
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)

    def _count(self) -> None:
        """Bin the rows held into ``counts``."""
        held, self._held, self._held_rows = self._held, [], 0
        if not held:
            return
        rows = held[0] if len(held) == 1 else np.concatenate(held)
        if self.derive is not None:
            try:
                rows = np.asarray(self.derive(rows.reshape(-1)), dtype=np.float64)
            except Exception:  # rows the model refused are not counted either
                return
            if rows.ndim != 2 or rows.shape[1] != self.columns:
                return
        else:
            rows = feature_rows(rows)
        for number, (column, edges) in enumerate(
            zip(self.indices.tolist(), self.edges, strict=True)
        ):
            self.counts[number * BINS : (number + 1) * BINS] += bin_counts(
                edges, rows[:, column], BINS
            )

    def flush(self) -> None:
        """Bin the rows held and add the counts so far to the counters."""
        self._timer = None
        self._count()
        for index in np.flatnonzero(self.counts).tolist():
            child = self._children[index]
            if child is not None:
                child.inc(int(self.counts[index]))
        self.counts[:] = 0

    def close(self) -> None:
        """Flush what is left (the version is unloading)."""
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
