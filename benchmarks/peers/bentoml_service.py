"""BentoML peer for bench_serving.py: the benchmark's model as a BentoML 1.4 service, 2 workers.

Runs in its own venv (benchmarks/.venvs/bentoml), started by the benchmark as
``bentoml serve bentoml_service:Digits`` (or ``:DigitsBatched``, BentoML's
adaptive batching) from this directory. The model is the same skops file that
Shipyard serves: ``$BENCH_MODEL``, with ``$BENCH_TRUST`` the comma-separated types
skops may load beyond its defaults. Requests are BentoML's own format, one
argument per API parameter: ``{"instances": [[...64 floats]]}`` → ``[class]``.
Access logs are off, as they are for every server in the benchmark.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
import skops.io

CONFIG = {"workers": 2, "logging": {"access": {"enabled": False}}}


def _load() -> object:
    trusted = [t for t in os.environ.get("BENCH_TRUST", "").split(",") if t]
    return skops.io.load(os.environ["BENCH_MODEL"], trusted=trusted)


@bentoml.service(**CONFIG)
class Digits:
    """One ``predict`` call per request."""

    def __init__(self) -> None:
        self.model = _load()

    @bentoml.api
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model.predict(instances)


@bentoml.service(**CONFIG)
class DigitsBatched:
    """BentoML's adaptive batching, up to 32 rows as Shipyard's default (its latency default)."""

    def __init__(self) -> None:
        self.model = _load()

    @bentoml.api(batchable=True, max_batch_size=32)
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model.predict(instances)
