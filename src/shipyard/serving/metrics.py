"""Prometheus metrics of the serving runtime (``shipyard_`` prefix, base units).

Every worker process writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (the
supervisor creates it) and ``/metrics`` collects all of them, so the page is
the same whichever worker answers. Labels are deployment, model and version —
never request ids. Each version keeps its labelled children, so the request
path does no label lookups; and it tallies its requests in the process, writing
them to the shared files once per turn of the event loop, so the answers of one
batch cost a few writes between them, not three each.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
    # Workers are started fresh (never forked), so the pid is known once; the default
    # identifier asks the kernel on every increment (about 7 % of a request's time).
    _PID = os.getpid()
    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: _PID)

LABELS = ("deployment", "model", "version")
REQUESTS = Counter(
    "shipyard_requests_total", "Inference requests, by answer code.", [*LABELS, "protocol", "code"]
)
REQUEST_SECONDS = Histogram(
    "shipyard_request_duration_seconds", "Time from request to answer.", [*LABELS, "protocol"]
)
INFERENCE_SECONDS = Histogram(
    "shipyard_inference_duration_seconds",
    "Time of one call to the model's predict (one batch when batching).",
    LABELS,
)
BATCH_SIZE = Histogram(
    "shipyard_batch_size",
    "Rows per batch the model ran.",
    LABELS,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
QUEUE_DEPTH = Gauge(
    "shipyard_queue_depth",
    "Requests waiting for a batch, summed over worker processes.",
    LABELS,
    multiprocess_mode="livesum",
)
MODEL_LOADED = Gauge(
    "shipyard_model_loaded",
    "1 while the version is loaded in the server's workers.",
    LABELS,
    multiprocess_mode="livemax",
)
ROUTE_WEIGHT = Gauge(
    "shipyard_route_weight",
    "Traffic weight of a live version (shadow versions: percent of traffic copied).",
    [*LABELS, "role"],
    multiprocess_mode="livemax",
)
PREDICTIONS = Counter(
    "shipyard_predictions_total",
    "Predicted values (classes), for drift and quality checks.",
    [*LABELS, "value"],
)
SHADOW = Counter(
    "shipyard_shadow_requests_total",
    "Copies of live requests a shadow version answered; result: match, mismatch or error.",
    [*LABELS, "result"],
)
INPUT_BINS = Counter(
    "shipyard_input_bin_total",
    "Live input values per feature, counted into the reference's quantile bins.",
    [*LABELS, "feature", "bin"],
)
REFERENCE_RATIO = Gauge(
    "shipyard_input_reference_ratio",
    "Share of the reference (validation) inputs in each bin of a feature.",
    [*LABELS, "feature", "bin"],
    multiprocess_mode="livemax",
)
FEEDBACK = Counter(
    "shipyard_feedback_total",
    "Feedback joined to a logged prediction: correct, wrong (classes) or scored (regression).",
    [*LABELS, "outcome"],
)
FEEDBACK_ERROR = Counter(
    "shipyard_feedback_absolute_error_total",
    "Sum of |label - prediction| over scored feedback.",
    LABELS,
)
LOG_DROPPED = Counter(
    "shipyard_prediction_log_dropped_total",
    "Predictions not logged for feedback because the log's queue was full.",
    LABELS,
)


# The request-duration histogram's bucket bounds (Prometheus' defaults, then +Inf).
DURATION_BOUNDS = tuple(REQUEST_SECONDS._upper_bounds)


def _observed(histogram: Any, durations: list[float]) -> None:
    """Add many observations to a histogram child at once: ``durations`` holds their sum,
    then how many fell in each bucket (what ``observe`` would have added one by one)."""
    histogram._sum.inc(durations[0])
    for bucket, count in zip(histogram._buckets, durations[1:], strict=True):
        if count:
            bucket.inc(count)


MAX_CLASSES = 1000  # distinct predicted values counted per version (bounded cardinality)


class VersionMetrics:
    """The labelled series of one version, looked up once."""

    def __init__(self, deployment: str, model: str, version: str) -> None:
        self.labels = {"deployment": deployment, "model": model, "version": version}
        self._children: dict[tuple[str, ...], Any] = {}
        self._values = 0
        self._answers: dict[tuple[str, int], int] = {}  # (protocol, code): requests not written
        self._durations: dict[str, list[float]] = {}  # protocol: [sum, count per bucket...]
        self._flushing = False
        if not version:  # requests no version answered (unknown model, busy): counts only
            return
        self.inference = INFERENCE_SECONDS.labels(**self.labels)
        self.batch_size = BATCH_SIZE.labels(**self.labels)
        self.queue_depth = QUEUE_DEPTH.labels(**self.labels)
        self.loaded = MODEL_LOADED.labels(**self.labels)

    def request(self, protocol: str, code: int, seconds: float) -> None:
        """One answered request: tallied here, written with the others of this loop turn."""
        key = (protocol, code)
        self._answers[key] = self._answers.get(key, 0) + 1
        durations = self._durations.get(protocol)
        if durations is None:
            durations = self._durations[protocol] = [0.0] * (len(DURATION_BOUNDS) + 1)
        durations[0] += seconds
        durations[1 + bisect_left(DURATION_BOUNDS, seconds)] += 1
        if not self._flushing:
            self._flushing = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop (a direct call): write at once
                self.flush()

    def flush(self) -> None:
        """Write the tallied requests to their series."""
        self._flushing = False
        for (protocol, code), count in self._answers.items():
            key = ("r", protocol, str(code))
            counter = self._children.get(key)
            if counter is None:
                counter = self._children[key] = REQUESTS.labels(
                    **self.labels, protocol=protocol, code=str(code)
                )
            counter.inc(count)
        self._answers.clear()
        for protocol, durations in self._durations.items():
            histogram = self._children.get(("d", protocol))
            if histogram is None:
                histogram = self._children[("d", protocol)] = REQUEST_SECONDS.labels(
                    **self.labels, protocol=protocol
                )
            _observed(histogram, durations)
        self._durations.clear()

    def predicted(self, value: str, count: int) -> None:
        key = ("p", value)
        counter = self._children.get(key)
        if counter is None:
            if self._values >= MAX_CLASSES:  # integers that are not classes: stop counting
                return
            self._values += 1
            counter = self._children[key] = PREDICTIONS.labels(**self.labels, value=value)
        counter.inc(count)

    def expect_feedback(self, classes: bool) -> None:
        """The feedback series of this version, at 0 from load (rates need every series)."""
        if classes:
            FEEDBACK.labels(**self.labels, outcome="correct")
            FEEDBACK.labels(**self.labels, outcome="wrong")
        else:
            FEEDBACK.labels(**self.labels, outcome="scored")
            FEEDBACK_ERROR.labels(**self.labels)

    def dropped(self) -> None:
        """A prediction the log had no room for."""
        counter = self._children.get(("dropped",))
        if counter is None:
            counter = self._children[("dropped",)] = LOG_DROPPED.labels(**self.labels)
        counter.inc()

    def shadowed(self, result: str) -> None:
        key = ("s", result)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = SHADOW.labels(**self.labels, result=result)
        counter.inc()

    def weight(self, role: str, value: float) -> None:
        for other in ("live", "shadow"):
            ROUTE_WEIGHT.labels(**self.labels, role=other).set(value if other == role else 0)


def exposition() -> tuple[bytes, str]:
    """The metrics page, across worker processes when there are several."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
