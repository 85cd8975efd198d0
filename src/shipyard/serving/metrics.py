"""Prometheus metrics of the serving runtime (``shipyard_`` prefix, base units).

With several worker processes, prometheus_client's multi-process mode collects
every worker's samples from ``PROMETHEUS_MULTIPROC_DIR``, which ``shipyard
serve`` sets up before the workers start.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

LABELS = ("model", "version")
REQUESTS = Counter(
    "shipyard_requests_total", "Inference requests, by answer code.", [*LABELS, "protocol", "code"]
)
REQUEST_SECONDS = Histogram(
    "shipyard_request_duration_seconds", "Time from request to answer.", [*LABELS, "protocol"]
)
INFERENCE_SECONDS = Histogram(
    "shipyard_inference_duration_seconds", "Time spent in the model's predict.", LABELS
)
BATCH_SIZE = Histogram(
    "shipyard_batch_size",
    "Rows per batch the model ran.",
    LABELS,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
PREDICTIONS = Counter(
    "shipyard_predictions_total",
    "Predicted values (classes), for drift and quality checks.",
    [*LABELS, "value"],
)


def exposition() -> tuple[bytes, str]:
    """The metrics page, across worker processes when there are several."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
