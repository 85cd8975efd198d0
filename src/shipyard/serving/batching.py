"""Adaptive batching: requests for one model version are queued and answered in batches.

A bounded queue (full → ``Overloaded``, which the server answers with 503 and
Retry-After, instead of letting latency grow without bound) and one dispatcher
task per version. The dispatcher waits on the queue (no polling), takes what is
already waiting up to a target size, waits at most a small part of the latency
budget for more, and runs the batch in a worker thread. The target size comes
from measurement: a least-squares line, fixed cost + cost per row, through the
sizes and times of recent batches, so that a batch fits in half of
``max_latency_ms``, capped by ``max_batch_size``. A model whose call costs the
same for 1 row or 64 (a forest, a GPU network) thus gets full batches, and waits
a little longer to fill them; one whose cost grows with each row gets batches
that keep the budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("shipyard.serve")


class Overloaded(Exception):
    """The queue is full: the client should retry later."""


@dataclass(slots=True)
class _Item:
    rows: Any
    future: asyncio.Future[Any]


class CostModel:
    """Batch time as ``fixed + per_row * rows``, fitted over the last ``window`` batches."""

    def __init__(self, window: int = 64) -> None:
        self.samples: deque[tuple[int, float]] = deque(maxlen=window)
        self._sums = [0.0, 0.0, 0.0, 0.0]  # rows, seconds, rows², rows·seconds

    def add(self, rows: int, seconds: float) -> None:
        if len(self.samples) == self.samples.maxlen:
            self._update(*self.samples[0], sign=-1.0)
        self.samples.append((rows, seconds))
        self._update(rows, seconds, sign=1.0)

    def _update(self, rows: int, seconds: float, sign: float) -> None:
        sums = self._sums
        sums[0] += sign * rows
        sums[1] += sign * seconds
        sums[2] += sign * rows * rows
        sums[3] += sign * rows * seconds

    def fit(self) -> tuple[float, float]:
        """(fixed seconds, seconds per row), both ≥ 0. While a single size has been seen
        the two cannot be told apart, and the whole cost is taken as per row (cautious)."""
        count = len(self.samples)
        if count == 0:
            return 0.0, 0.0
        sx, sy, sxx, sxy = self._sums
        mean_x, mean_y = sx / count, sy / count
        variance = sxx / count - mean_x * mean_x
        if variance <= 1e-9:
            return 0.0, mean_y / max(mean_x, 1.0)
        per_row = max(0.0, (sxy / count - mean_x * mean_y) / variance)
        return max(0.0, mean_y - per_row * mean_x), per_row


@dataclass(slots=True)
class BatchStats:
    """What the dispatcher has measured and decided."""

    cost: CostModel = field(default_factory=CostModel)
    batches: int = 0
    sizes: list[int] = field(default_factory=list)  # recent batch sizes (bounded)


class Batcher:
    """Batches ``predict`` calls for one version; inputs are arrays with rows on axis 0."""

    def __init__(
        self,
        predict: Callable[[Any], Any],
        executor: Executor,
        *,
        max_batch_size: int = 32,
        max_latency_ms: float = 20.0,
        max_queue: int = 256,
        on_batch: Callable[[int, float, Any], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self._predict = predict
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_ms / 1000
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self._on_batch = on_batch
        self._on_depth = on_depth
        self.stats = BatchStats()
        self._task: asyncio.Task[None] | None = None

    def depth(self) -> int:
        """Requests waiting."""
        return self._queue.qsize()

    def target(self) -> int:
        """How many rows the next batch may take, from the measured cost of batches."""
        cost = self.stats.cost
        fixed, per_row = cost.fit()
        budget = self.max_latency_s / 2 - fixed
        if per_row <= 0 or budget <= 0:  # rows are free, or no size keeps the budget anyway
            return self.max_batch_size
        fits = int(budget / per_row)
        if fits <= 1 and all(rows == 1 for rows, _ in cost.samples):
            return 2  # only single rows seen: try two, or a fixed cost would never show
        return max(1, min(self.max_batch_size, fits))

    def patience(self, target: int) -> float:
        """How long a batch may wait to fill: a small part of the latency budget, or a
        fifth of the batch's own predicted time when that is longer (a model whose call
        costs the same for any batch is worth a short wait for fuller batches)."""
        fixed, per_row = self.stats.cost.fit()
        base = min(self.max_latency_s * 0.1, 0.005)
        return min(self.max_latency_s / 2, max(base, 0.2 * (fixed + per_row * target)))

    async def submit(self, rows: Any, timeout: float | None = None) -> Any:
        """Queue ``rows`` and wait for their predictions (``TimeoutError`` after ``timeout``)."""
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._dispatch())
        future: asyncio.Future[Any] = loop.create_future()
        try:
            self._queue.put_nowait(_Item(rows, future))
        except asyncio.QueueFull:
            raise Overloaded(f"{self._queue.maxsize} requests are already waiting") from None
        return await expiring(future, timeout)

    def close(self) -> None:
        """Stop the dispatcher (call once nothing is waiting)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _collect(self) -> list[_Item]:
        first = await self._queue.get()
        batch, rows = [first], len(first.rows)
        target = self.target()
        deadline = time.monotonic() + self.patience(target)
        while rows < target:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(item)
            rows += len(item.rows)
        return batch

    async def _dispatch(self) -> None:
        while True:
            collected = await self._collect()
            if self._on_depth is not None:  # sampled once a batch, not on every request
                self._on_depth(self._queue.qsize())
            batch = [item for item in collected if not item.future.done()]  # timed out: skip
            try:
                inputs = np.concatenate([np.asarray(item.rows) for item in batch])
            except ValueError:  # rows of different shapes (a model without a signature)
                for item in batch:
                    await self._answer([item], np.asarray(item.rows))
                continue
            if batch:
                await self._answer(batch, inputs)

    async def _answer(self, batch: list[_Item], inputs: Any) -> None:
        """Run one batch and give each request its rows — or the error — never leaving one
        waiting, whatever the model returns."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            outputs = np.asarray(await loop.run_in_executor(self._executor, self._predict, inputs))
            if outputs.ndim == 0 or len(outputs) != len(inputs):
                raise ValueError(
                    f"predict answered {outputs.shape} for {len(inputs)} rows; "
                    "expected one answer per row"
                )
        except Exception as err:  # every request of the batch gets the model's error
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(err)
            return
        offset = 0
        for item in batch:
            count = len(item.rows)
            if not item.future.done():
                item.future.set_result(outputs[offset : offset + count])
            offset += count
        try:
            self._learn(len(inputs), time.perf_counter() - started, outputs)
        except Exception:  # measuring must never stop the dispatcher
            log.exception("recording a batch's metrics failed")

    def _learn(self, rows: int, seconds: float, outputs: Any) -> None:
        stats = self.stats
        stats.cost.add(rows, seconds)
        stats.batches += 1
        stats.sizes = [*stats.sizes[-99:], rows]
        if self._on_batch is not None:
            self._on_batch(rows, seconds, outputs)


async def expiring(future: asyncio.Future[Any], timeout: float | None) -> Any:
    """Await ``future``, failing it with ``TimeoutError`` after ``timeout`` seconds.

    One timer handle per request — cheaper than ``asyncio.wait_for`` (a task) or
    ``asyncio.timeout`` (a context manager that reschedules)."""
    if timeout is None:
        return await future
    handle = asyncio.get_running_loop().call_later(timeout, _expire, future)
    try:
        return await future
    finally:
        handle.cancel()


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
