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
import functools
import itertools
import logging
import math
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


@dataclass(slots=True, eq=False)  # compared by identity: rows are arrays
class _Item:
    rows: Any
    future: asyncio.Future[Any]
    deadline: float  # loop time after which the request has timed out (inf: never)


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


INLINE_S = 0.002  # a batch predicted to take less may run on the event loop (flavors that allow it)
INLINE_AFTER = 8  # batches measured in a thread before any runs on the loop
INLINE_NEVER_S = 0.02  # an inline call that took longer: this version never runs inline again
# Batches in threads at once. Two (the next running while the last is answered) measured
# worse for the 300-tree forest on 2 cores: smaller batches (23 rows against 30) contending
# for the same cores, 1,240-1,690 rows/s against 1,680-1,790 with one.
MAX_RUNNING = 1


class Batcher:
    """Batches ``predict`` calls for one version; inputs are arrays with rows on axis 0.

    Per request, only a future and a place in a deque: no timer, queue or task. One
    timer per batcher fails the requests whose deadline passes (waiting or running),
    armed at the nearest deadline. With ``inline``, a batch whose measured cost is
    under ``INLINE_S`` runs on the event loop itself — a thread hand-off costs more
    than such a batch — and a single call over ``INLINE_NEVER_S`` sends the version
    back to threads for good. While a batch runs in a thread, the next one gathers; a
    batch hung past all its requests' deadlines no longer holds the next one back."""

    def __init__(
        self,
        predict: Callable[[Any], Any],
        executor: Executor,
        *,
        max_batch_size: int = 32,
        max_latency_ms: float = 20.0,
        max_queue: int = 256,
        inline: bool = False,
        on_batch: Callable[[int, float, Any], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self._predict = predict
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_ms / 1000
        self.max_queue = max_queue
        self.inline = inline
        self._on_batch = on_batch
        self._on_depth = on_depth
        self.stats = BatchStats()
        self._task: asyncio.Task[None] | None = None
        self._waiting: deque[_Item] = deque()
        self._waiting_rows = 0
        self._want = 0.0  # queued rows that wake the dispatcher (0: not waiting; inf: only a
        # finished batch does)
        self._wakeup: asyncio.Future[None] | None = None
        self._taken: dict[int, list[_Item]] = {}  # batches off the queue, not yet answered
        self._running: set[int] = set()  # batches in threads that someone still waits for
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_at = math.inf

    def depth(self) -> int:
        """Requests waiting."""
        return len(self._waiting)

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
        if len(self._waiting) >= self.max_queue:
            raise Overloaded(f"{self.max_queue} requests are already waiting")
        future: asyncio.Future[Any] = loop.create_future()
        deadline = math.inf if timeout is None else loop.time() + timeout
        self._waiting.append(_Item(rows, future, deadline))
        self._waiting_rows += len(rows)
        if deadline < self._expiry_at:
            self._arm(loop, deadline)
        if self._want and self._waiting_rows >= self._want:
            self._wake()
        return await future

    def close(self) -> None:
        """Stop the dispatcher (call once nothing is waiting)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._expiry is not None:
            self._expiry.cancel()

    def _wake(self) -> None:
        self._want = 0.0
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_at = at
        self._expiry = loop.call_at(at, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail every request past its deadline, waiting or running; re-arm for the next."""
        self._expiry, self._expiry_at = None, math.inf
        now = loop.time() + 0.002  # timers may fire a little early
        nearest = math.inf
        for item in itertools.chain(self._waiting, *self._taken.values()):
            if item.future.done():
                continue
            if item.deadline <= now:
                item.future.set_exception(TimeoutError())
            else:
                nearest = min(nearest, item.deadline)
        if nearest < math.inf:
            self._arm(loop, nearest)
        for batch in [b for b in self._taken.values() if id(b) in self._running]:
            if all(item.future.done() for item in batch):
                self._done_running(batch)  # hung past every deadline: the next may start

    def _done_running(self, batch: list[_Item]) -> None:
        """A batch in a thread is answered, or no one waits for it any more."""
        self._running.discard(id(batch))
        if self._want == math.inf:
            self._wake()

    async def _until(self, loop: asyncio.AbstractEventLoop, rows: float, seconds: float) -> None:
        """Wait until ``rows`` more rows are queued, or ``seconds`` pass (inf: no limit)."""
        self._want = rows
        self._wakeup = wakeup = loop.create_future()
        timer = None if seconds == math.inf else loop.call_later(seconds, self._wake)
        try:
            await wakeup
        finally:
            self._want, self._wakeup = 0.0, None
            if timer is not None:
                timer.cancel()

    def _take(self, batch: list[_Item], room: int) -> int:
        """Move waiting requests into ``batch``, up to ``room`` rows; the rows moved."""
        taken = 0
        waiting = self._waiting
        while waiting and taken < room:
            item = waiting.popleft()
            count = len(item.rows)
            self._waiting_rows -= count
            if not item.future.done():  # timed out or given up while waiting: not run
                batch.append(item)
                taken += count
        return taken

    async def _collect(self, loop: asyncio.AbstractEventLoop) -> list[_Item]:
        """The next batch: what is waiting up to the target, then a short wait for more."""
        batch: list[_Item] = []
        self._taken[id(batch)] = batch
        target = self.target()
        rows, deadline = 0, math.inf
        while rows < target:
            rows += self._take(batch, target - rows)
            if rows >= target:
                break
            if batch and deadline == math.inf:
                deadline = loop.time() + self.patience(target)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._until(loop, target - rows if batch else 1, remaining)
        return batch

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._free_thread(loop)
            batch = await self._collect(loop)
            if self._on_depth is not None:  # sampled once a batch, not on every request
                self._on_depth(len(self._waiting))
            batch[:] = [item for item in batch if not item.future.done()]  # expired meanwhile
            if not batch:
                del self._taken[id(batch)]
                continue
            try:
                inputs = np.concatenate([np.asarray(item.rows) for item in batch])
            except ValueError:  # rows of different shapes (a model without a signature)
                del self._taken[id(batch)]
                for item in batch:
                    alone = [item]
                    self._taken[id(alone)] = alone
                    self._start(loop, alone, np.asarray(item.rows))
                    await self._free_thread(loop)
                continue
            self._start(loop, batch, inputs)

    async def _free_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return once fewer than ``MAX_RUNNING`` batches run in threads."""
        while len(self._running) >= MAX_RUNNING:
            await self._until(loop, math.inf, math.inf)  # woken when a batch is done

    def _start(self, loop: asyncio.AbstractEventLoop, batch: list[_Item], inputs: Any) -> None:
        """Run one batch on the loop (cheap, and allowed) or in a thread."""
        if self._on_loop(len(inputs)):
            started = time.perf_counter()
            try:
                outputs: Any = self._predict(inputs)
            except Exception as err:
                outputs = err
            seconds = time.perf_counter() - started
            if seconds > INLINE_NEVER_S:
                self.inline = False
                log.warning(
                    "a batch of %d rows took %.0f ms on the event loop: this version's "
                    "batches run in threads from now on",
                    len(inputs),
                    seconds * 1000,
                )
            self._answer(batch, inputs, outputs, seconds)
            return
        self._running.add(id(batch))
        future = loop.run_in_executor(self._executor, _timed, self._predict, inputs)
        future.add_done_callback(functools.partial(self._finished, batch, inputs))

    def _on_loop(self, rows: int) -> bool:
        if not self.inline or self.stats.batches < INLINE_AFTER:
            return False
        fixed, per_row = self.stats.cost.fit()
        return fixed + per_row * rows <= INLINE_S

    def _finished(self, batch: list[_Item], inputs: Any, future: asyncio.Future[Any]) -> None:
        self._done_running(batch)
        if future.cancelled():
            outputs: Any = RuntimeError("the version was unloaded")
            seconds = 0.0
        elif future.exception() is not None:
            outputs, seconds = future.exception(), 0.0
        else:
            outputs, seconds = future.result()
        self._answer(batch, inputs, outputs, seconds)

    def _answer(self, batch: list[_Item], inputs: Any, result: Any, seconds: float) -> None:
        """Give each request of a batch its rows — or the error — never leaving one
        waiting, whatever the model returned."""
        del self._taken[id(batch)]
        try:
            if isinstance(result, BaseException):
                raise result
            outputs = np.asarray(result)
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
            self._learn(len(inputs), seconds, outputs)
        except Exception:  # measuring must never stop the dispatcher
            log.exception("recording a batch's metrics failed")

    def _learn(self, rows: int, seconds: float, outputs: Any) -> None:
        stats = self.stats
        stats.cost.add(rows, seconds)
        stats.batches += 1
        stats.sizes = [*stats.sizes[-99:], rows]
        if self._on_batch is not None:
            self._on_batch(rows, seconds, outputs)


def _timed(predict: Callable[[Any], Any], inputs: Any) -> tuple[Any, float]:
    """In the thread: the outputs and the call's own time (not its wait for a thread)."""
    started = time.perf_counter()
    return predict(inputs), time.perf_counter() - started


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
