"""The model host: the loaded version a server answers with, and the threads that run it.

Inference never runs on the event loop: it goes to a small thread pool, and a
semaphore bounds how many requests a worker holds at once (beyond that: 503 with
Retry-After instead of an unbounded queue).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.flavors import Predictor, TrustPolicy
from shipyard.serving.batching import Batcher
from shipyard.signature import Signature


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """Adaptive batching settings (``max_batch_size`` 1 turns batching off)."""

    max_batch_size: int = 32
    max_latency_ms: float = 20.0
    max_queue: int = 256
    on_batch: Callable[[int, float], None] | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """One loaded model version."""

    name: str
    version: str
    flavor: str
    signature: Signature | None
    predictor: Predictor
    batchable: bool  # predict takes any number of rows at once (library flavors; opt-in for custom)


def load_reference(ref: str, home: Path, trust: TrustPolicy) -> Loaded:
    """Resolve ``name``, ``name:3`` or ``name@alias`` in the registry and load it (verified)."""
    from shipyard.checkout import load_version
    from shipyard.refs import parse_ref
    from shipyard.registry import resolve
    from shipyard.store import open_stores

    stores = open_stores(home)
    try:
        version = resolve(stores, parse_ref(ref))
        predictor = load_version(stores, version, trust)
    finally:
        stores.close()
    batchable = version.flavor != "custom" or bool(getattr(predictor, "batchable", False))
    return Loaded(
        version.model, str(version.version), version.flavor, version.signature, predictor, batchable
    )


class ModelHost:
    """Runs predictions for one loaded version, off the event loop, with bounded concurrency."""

    def __init__(
        self,
        loaded: Loaded,
        *,
        threads: int = 4,
        max_concurrent: int = 64,
        batching: BatchOptions | None = None,
    ) -> None:
        self.loaded = loaded
        self.ready = True
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="infer")
        self._slots = asyncio.Semaphore(max_concurrent)
        self.max_concurrent = max_concurrent
        self.batcher: Batcher | None = None
        if batching is not None and batching.max_batch_size > 1 and loaded.batchable:
            self.batcher = Batcher(
                loaded.predictor.predict,
                self._executor,
                max_batch_size=batching.max_batch_size,
                max_latency_ms=batching.max_latency_ms,
                max_queue=batching.max_queue,
                on_batch=batching.on_batch,
            )

    def busy(self) -> bool:
        """Whether every request slot is taken (the caller answers 503)."""
        return self._slots.locked()

    async def predict(self, inputs: Any, timeout: float) -> Any:
        """Run ``predict`` in a worker thread; ``TimeoutError`` after ``timeout`` seconds."""
        async with self._slots:
            if self.batcher is not None and isinstance(inputs, np.ndarray) and inputs.ndim >= 1:
                return await asyncio.wait_for(self.batcher.submit(inputs), timeout)
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._executor, self.loaded.predictor.predict, inputs)
            return await asyncio.wait_for(future, timeout)

    def close(self) -> None:
        """Stop the threads (running predictions finish first)."""
        self.ready = False
        self._executor.shutdown(wait=False, cancel_futures=True)
