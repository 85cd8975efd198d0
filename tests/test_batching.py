"""Adaptive batching: concurrent requests share batches, each gets its own rows back, the
queue is bounded, and batches are sized to the measured latency budget."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from shipyard.serving.batching import Batcher, Overloaded


class Recorder:
    """A model that doubles its input, costs ``row_ms`` per row and records batch sizes."""

    def __init__(self, row_ms: float = 0.0) -> None:
        self.row_ms = row_ms
        self.batches: list[int] = []

    def predict(self, rows: Any) -> Any:
        self.batches.append(len(rows))
        time.sleep(self.row_ms * len(rows) / 1000)
        return np.asarray(rows) * 2


def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    model = Recorder(row_ms=1)

    async def scenario() -> list[Any]:
        batcher = Batcher(model.predict, ThreadPoolExecutor(2), max_batch_size=16)
        requests = [np.full((1 + i % 3, 2), i) for i in range(40)]
        answers = await asyncio.gather(*(batcher.submit(r) for r in requests))
        return [a.tolist() == (r * 2).tolist() for a, r in zip(answers, requests, strict=True)]

    assert all(asyncio.run(scenario()))
    assert len(model.batches) < 40  # shared
    assert max(model.batches) > 1 and max(model.batches) <= 16 + 2  # a request is never split


def test_batch_size_follows_the_measured_latency_budget() -> None:
    model = Recorder(row_ms=2)

    async def scenario() -> Batcher:
        batcher = Batcher(
            model.predict, ThreadPoolExecutor(1), max_batch_size=64, max_latency_ms=20
        )
        for _ in range(5):
            await asyncio.gather(*(batcher.submit(np.ones((1, 1))) for _ in range(30)))
        return batcher

    batcher = asyncio.run(scenario())
    # 2 ms a row against half of a 20 ms budget: about 5 rows a batch once measured
    assert 3 <= batcher.target() <= 6
    assert max(model.batches[-5:]) <= 8


def test_a_model_that_costs_the_same_for_any_batch_gets_full_batches() -> None:
    calls: list[int] = []

    def forest(rows: Any) -> Any:  # like a big forest: 20 ms a call, whatever the rows
        calls.append(len(rows))
        time.sleep(0.02)
        return np.asarray(rows)

    async def scenario() -> Batcher:
        batcher = Batcher(forest, ThreadPoolExecutor(1), max_batch_size=32, max_latency_ms=20)
        await batcher.submit(np.ones((1, 1)))  # first measured alone: 20 ms for one row
        for _ in range(4):
            await asyncio.gather(*(batcher.submit(np.ones((1, 1))) for _ in range(64)))
        return batcher

    batcher = asyncio.run(scenario())
    assert batcher.target() == 32
    assert calls[-1] == 32 and sum(c == 32 for c in calls) >= 6


def test_a_full_queue_refuses_instead_of_growing() -> None:
    model = Recorder(row_ms=50)

    async def scenario() -> list[Any]:
        batcher = Batcher(model.predict, ThreadPoolExecutor(1), max_batch_size=1, max_queue=2)
        return await asyncio.gather(
            *(batcher.submit(np.ones((1, 1))) for _ in range(8)), return_exceptions=True
        )

    results = asyncio.run(scenario())
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert refused and len(refused) < 8


def test_a_model_error_reaches_every_request_of_the_batch_and_the_batcher_goes_on() -> None:
    calls = {"n": 0}

    def predict(rows: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("boom")
        return np.asarray(rows)

    async def scenario() -> tuple[Any, Any]:
        batcher = Batcher(predict, ThreadPoolExecutor(1))
        first = await asyncio.gather(batcher.submit(np.ones((1, 1))), return_exceptions=True)
        second = await batcher.submit(np.ones((1, 1)))
        return first[0], second

    failed, ok = asyncio.run(scenario())
    assert isinstance(failed, ValueError) and ok.tolist() == [[1.0]]


@pytest.mark.parametrize("size", [1, 5])
def test_rows_come_back_in_order(size: int) -> None:
    model = Recorder()

    async def scenario() -> Any:
        batcher = Batcher(model.predict, ThreadPoolExecutor(1))
        return await batcher.submit(np.arange(size).reshape(size, 1))

    assert asyncio.run(scenario()).ravel().tolist() == [2 * i for i in range(size)]


def test_rows_of_different_shapes_are_answered_one_by_one_and_the_batcher_goes_on() -> None:
    model = Recorder()

    async def scenario() -> list[Any]:
        batcher = Batcher(model.predict, ThreadPoolExecutor(1), max_latency_ms=50)
        answers = await asyncio.gather(
            batcher.submit(np.ones((1, 2))), batcher.submit(np.ones((1, 3)))
        )
        answers.append(await batcher.submit(np.ones((1, 2))))
        return [a.tolist() for a in answers]

    assert asyncio.run(scenario()) == [[[2.0, 2.0]], [[2.0, 2.0, 2.0]], [[2.0, 2.0]]]


def test_a_model_answering_the_wrong_number_of_rows_fails_those_requests_only() -> None:
    answers = iter([np.array(7), np.ones(5), np.ones(2)])  # a scalar, too many, right

    async def scenario() -> list[Any]:
        batcher = Batcher(lambda rows: next(answers), ThreadPoolExecutor(1))
        results = []
        for _ in range(3):
            results.append(
                (await asyncio.gather(batcher.submit(np.ones((2, 1))), return_exceptions=True))[0]
            )
        return results

    scalar, too_many, right = asyncio.run(scenario())
    assert isinstance(scalar, ValueError) and "expected one answer per row" in str(scalar)
    assert isinstance(too_many, ValueError)
    assert right.tolist() == [1.0, 1.0]


def test_requests_that_timed_out_while_queued_are_not_run() -> None:
    model = Recorder(row_ms=100)

    async def scenario() -> list[Any]:
        batcher = Batcher(model.predict, ThreadPoolExecutor(1), max_batch_size=1)
        return await asyncio.gather(
            *(batcher.submit(np.ones((1, 1)), timeout=0.15) for _ in range(10)),
            return_exceptions=True,
        )

    results = asyncio.run(scenario())
    timed_out = [r for r in results if isinstance(r, TimeoutError)]
    assert len(timed_out) >= 7
    time.sleep(0.3)
    assert sum(model.batches) < 10  # the expired ones never reached the model
