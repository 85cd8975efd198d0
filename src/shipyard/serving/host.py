"""Loaded model versions and the threads that run them.

Each version has a small thread pool (and, when the model takes batches, an
adaptive batcher in front of it). Model code runs in those threads, with one
exception: a scikit-learn model's batches that measure under the batcher's
inline budget (about 2 ms) run on the event loop, because handing them to a
thread costs more than running them (measured: digits, see
benchmarks/bench_serving.py). A scikit-learn estimator loaded by skops is pure
computation on the arrays it is given — no I/O, no locks it waits on — so the
loop is held only as long as measured; custom code, ONNX, PyTorch and Keras
always run in threads. A version counts the requests that hold it, so it can be
drained — no request left — before it is unloaded.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import ShipyardError
from shipyard.flavors import Predictor, TrustPolicy
from shipyard.serving.batching import Batcher, expiring
from shipyard.serving.bundle import bundle_version, read_manifest
from shipyard.serving.config import BatchOptions
from shipyard.serving.input_bins import InputBins
from shipyard.serving.metrics import VersionMetrics
from shipyard.signature import Signature

log = logging.getLogger("shipyard.serve")

INLINE_FLAVOR = "sklearn"  # the one flavor whose short batches may run on the event loop


@dataclass(frozen=True, slots=True)
class Loaded:
    """One loaded model version."""

    name: str
    version: str
    flavor: str
    signature: Signature | None
    predictor: Predictor
    batchable: bool  # predict takes any number of rows at once (library flavors; opt-in for custom)
    reference: dict[str, Any] | None = None  # the inputs' summary, for drift counting

    @property
    def may_run_on_loop(self) -> bool:
        """Whether short batches may run on the event loop (see the module's docstring)."""
        return self.flavor == INLINE_FLAVOR


def load_reference(ref: str, home: Path, trust: TrustPolicy) -> Loaded:
    """Load ``name:3`` (or ``name@alias``) from the registry, digest-verified."""
    from shipyard.home import stores_for
    from shipyard.refs import parse_ref
    from shipyard.registry import reference_of, resolve
    from shipyard.registry.checkout import load_version

    stores = stores_for(home)
    try:
        version = resolve(stores, parse_ref(ref))
        predictor = load_version(stores, version, trust)
        try:
            reference = reference_of(stores, version)
        except ShipyardError as err:  # the model is intact: serve it, without drift counts
            log.warning("%s: no drift counting: %s", ref, err.message)
            reference = None
    finally:
        stores.close()
    name, number = version.model, str(version.version)
    return _loaded(name, number, version.flavor, version.signature, predictor, reference)


def load_bundle(path: Path, trust: TrustPolicy) -> Loaded:
    """Load a bundle directory (``shipyard run``'s package stage), every file digest-verified."""
    from shipyard.flavors import get_flavor

    manifest = read_manifest(path)
    code = str((path / "code").resolve())
    if code not in sys.path:
        sys.path.insert(0, code)  # a custom model imports its project's modules
    flavor = manifest["flavor"]
    predictor = get_flavor(flavor).load(path / "model", manifest["entrypoint"], trust)
    stored = manifest.get("signature")
    signature = Signature.from_stored(stored) if stored else None
    return _loaded(manifest["name"], bundle_version(manifest), flavor, signature, predictor)


def _loaded(
    name: str,
    version: str,
    flavor: str,
    signature: Signature | None,
    predictor: Predictor,
    reference: dict[str, Any] | None = None,
) -> Loaded:
    batchable = flavor != "custom" or bool(getattr(predictor, "batchable", False))
    return Loaded(name, version, flavor, signature, predictor, batchable, reference)


class VersionHost:
    """Runs predictions for one loaded version off the event loop, and knows who holds it."""

    def __init__(
        self,
        loaded: Loaded,
        metrics: VersionMetrics,
        *,
        threads: int = 4,
        batching: BatchOptions | None = None,
    ) -> None:
        self.loaded = loaded
        self.metrics = metrics
        self.held = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="infer")
        self.batcher: Batcher | None = None
        if batching is not None and batching.max_batch_size > 1 and loaded.batchable:
            self.batcher = Batcher(
                loaded.predictor.predict,
                self._executor,
                max_batch_size=batching.max_batch_size,
                max_latency_ms=batching.max_latency_ms,
                max_queue=batching.max_queue,
                inline=loaded.may_run_on_loop,
                on_batch=self._measured,
                on_depth=metrics.queue_depth.set,
            )
        self.inputs = _input_bins(loaded, metrics)
        signature = loaded.signature
        if signature is not None and signature.outputs:
            metrics.expect_feedback(classes=not signature.outputs[0].datatype.startswith("FP"))
        metrics.loaded.set(1)

    def hold(self) -> None:
        """A request starts using this version (call on the event loop)."""
        self.held += 1
        self._idle.clear()

    def release(self) -> None:
        self.held -= 1
        if self.held == 0:
            self._idle.set()

    async def drained(self) -> None:
        """Return once no request holds this version."""
        await self._idle.wait()

    async def predict(self, inputs: Any, timeout: float) -> Any:
        """Run ``predict`` in a worker thread; ``TimeoutError`` after ``timeout`` seconds."""
        if self.batcher is not None and isinstance(inputs, np.ndarray) and inputs.ndim >= 1:
            return await self.batcher.submit(inputs, timeout)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        future = loop.run_in_executor(self._executor, self.loaded.predictor.predict, inputs)
        outputs = await expiring(future, timeout)
        self._measured(_rows(inputs), time.perf_counter() - started, outputs)
        return outputs

    def _measured(self, rows: int, seconds: float, outputs: Any) -> None:
        """One model call's metrics: its time, its rows, and the classes it predicted."""
        metrics = self.metrics
        metrics.inference.observe(seconds)
        metrics.batch_size.observe(rows)
        for value, count in counted(outputs):
            metrics.predicted(value, count)

    def close(self) -> None:
        """Stop the threads (running predictions finish first) and say the version is gone."""
        if self.batcher is not None:
            self.batcher.close()
        if self.inputs is not None:
            self.inputs.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.metrics.loaded.set(0)
        self.metrics.queue_depth.set(0)


def _input_bins(loaded: Loaded, metrics: VersionMetrics) -> InputBins | None:
    """Drift counting for a version with a reference summary; a summary the server cannot
    use costs the drift counts, never the version."""
    if loaded.reference is None:
        return None
    try:
        derive = getattr(loaded.predictor, "drift_features", None)
        return InputBins(loaded.reference, metrics.labels, derive)
    except (KeyError, TypeError, ValueError) as err:
        log.warning("v%s: reference summary not usable, no drift counting: %s", loaded.version, err)
        return None


def counted(outputs: Any) -> list[tuple[str, int]]:
    """Class labels and how often each was predicted (none for regressions): one metric
    update per distinct class, once per model call."""
    array = np.asarray(outputs)
    if array.ndim != 1 or array.dtype.kind not in "iuUSOb":
        return []
    try:
        values, counts = np.unique(array, return_counts=True)
    except TypeError:  # objects that do not sort (a dict per row): not classes
        return []
    return [(str(v), int(c)) for v, c in zip(values.tolist(), counts.tolist(), strict=True)]


def _rows(inputs: Any) -> int:
    """Rows in a request's inputs: an array, a list, or named arrays."""
    if isinstance(inputs, dict):
        inputs = next(iter(inputs.values()), [])
    return len(inputs) if hasattr(inputs, "__len__") else 1
