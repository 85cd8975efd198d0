"""Live inputs counted into the reference's quantile bins, per feature, for drift (PSI).

A version registered with a reference summary (``monitor/reference.py``) gets
one ``InputBins`` per worker. Each answered request's rows are binned with one
vectorised comparison against an edges matrix (features x 9, padded with +inf)
and one ``bincount``, into a numpy array; the array is flushed into the
Prometheus counters at most once a second, by a timer that the first count
after a flush arms — so counts reach ``/metrics`` within about a second even
when traffic stops, and an idle worker wakes for nothing. Every bin's counter
exists (at 0) from load, so PromQL ratios see every series. Inputs that are not
a 2-D numeric array with the reference's column count are not counted; drift
counting never fails a request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from shipyard.monitor.reference import BINS
from shipyard.serving.metrics import INPUT_BINS, REFERENCE_RATIO

FLUSH_S = 1.0


class InputBins:
    """One version's live bin counts in this worker, and their Prometheus series."""

    def __init__(self, reference: dict[str, Any], labels: dict[str, str]) -> None:
        self.columns = int(reference["columns"])
        # a constant feature (one bin) cannot drift between bins: it is not counted
        kept = [(i, f) for i, f in enumerate(reference["features"]) if f["edges"]]
        self.indices = np.array([i for i, _ in kept], dtype=np.intp)
        self.names = [str(f["name"]) for _, f in kept]
        self.edges = np.full((len(kept), BINS - 1), np.inf)
        for row, (_, feature) in enumerate(kept):
            self.edges[row, : len(feature["edges"])] = feature["edges"]
        self.counts = np.zeros(len(kept) * BINS, dtype=np.int64)
        self._offsets = np.arange(len(kept), dtype=np.intp) * BINS
        # sorted and distinct: contiguous when they span as many columns as they are (a view)
        self._contiguous = bool(len(kept)) and self.indices[-1] - self.indices[0] + 1 == len(kept)
        self._children: list[Any] = [None] * len(self.counts)
        for row, (_, feature) in enumerate(kept):
            for number, ratio in enumerate(feature["ratios"]):
                series = {**labels, "feature": self.names[row], "bin": str(number)}
                self._children[row * BINS + number] = INPUT_BINS.labels(**series)
                REFERENCE_RATIO.labels(**series).set(ratio)
        self._timer: asyncio.TimerHandle | None = None

    def observe(self, inputs: Any) -> None:
        """Count the rows of one answered request (on the event loop)."""
        if not isinstance(inputs, np.ndarray) or inputs.ndim != 2 or not len(self.names):
            return
        if inputs.shape[1] != self.columns or inputs.dtype.kind not in "biuf":
            return
        if self._contiguous:
            first = int(self.indices[0])
            values = inputs[:, first : first + len(self.indices)]
        else:
            values = inputs[:, self.indices]
        # bin = edges strictly below the value (NaN: none, bin 0), as in the summary
        bins = (values[:, :, None] > self.edges[None, :, :]).sum(axis=2)
        self.counts += np.bincount((bins + self._offsets).ravel(), minlength=len(self.counts))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        """Add the counts so far to the counters."""
        self._timer = None
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
