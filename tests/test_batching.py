"""Adaptive batching: concurrent requests share batches, each gets its own rows back, the
queue is bounded, and batches are sized to the measured latency budget."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from shipyard.serving import batching
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


def test_short_batches_of_a_model_allowed_on_the_loop_run_there_with_the_same_answers() -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(x, y)
    threads: list[int] = []

    def predict(rows: Any) -> Any:
        threads.append(threading.get_ident())
        return model.predict(rows)

    async def scenario() -> tuple[list[Any], int]:
        batcher = Batcher(predict, ThreadPoolExecutor(2), inline=True)
        answers = []
        for start in range(0, 400, 8):  # 50 batches of 8 single rows
            rows = [x[i : i + 1] for i in range(start, start + 8)]
            answers += await asyncio.gather(*(batcher.submit(r) for r in rows))
        return answers, threading.get_ident()

    answers, loop_thread = asyncio.run(scenario())
    assert np.concatenate(answers).tolist() == model.predict(x[:400]).tolist()
    assert threads[: batching.INLINE_AFTER].count(loop_thread) == 0  # measured in threads first
    assert threads[-10:] == [loop_thread] * 10  # then on the loop: a thread costs more


def test_a_model_not_allowed_on_the_loop_always_runs_in_threads() -> None:
    threads: list[int] = []

    def predict(rows: Any) -> Any:
        threads.append(threading.get_ident())
        return np.asarray(rows)

    async def scenario() -> int:
        batcher = Batcher(predict, ThreadPoolExecutor(1))
        for _ in range(30):
            await batcher.submit(np.ones((1, 1)))
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert len(threads) == 30 and loop_thread not in threads


def test_a_call_too_slow_for_the_loop_sends_the_version_back_to_threads_for_good() -> None:
    threads: list[int] = []
    slow = {"now": False}

    def predict(rows: Any) -> Any:
        threads.append(threading.get_ident())
        if slow["now"]:
            time.sleep(batching.INLINE_NEVER_S * 2)
        return np.asarray(rows)

    async def scenario() -> tuple[Batcher, int]:
        batcher = Batcher(predict, ThreadPoolExecutor(1), inline=True)
        for _ in range(20):
            await batcher.submit(np.ones((1, 1)))
        slow["now"] = True
        await batcher.submit(np.ones((1, 1)))  # on the loop, too slow: the last one there
        slow["now"] = False
        for _ in range(20):
            await batcher.submit(np.ones((1, 1)))
        return batcher, threading.get_ident()

    batcher, loop_thread = asyncio.run(scenario())
    assert threads[20] == loop_thread and not batcher.inline
    assert loop_thread not in threads[21:]


def test_requests_arriving_while_a_batch_runs_gather_into_the_next_one() -> None:
    running, release = threading.Event(), threading.Event()
    sizes: list[int] = []

    def predict(rows: Any) -> Any:
        sizes.append(len(rows))
        running.set()
        release.wait(5)
        return np.asarray(rows)

    async def scenario() -> list[Any]:
        batcher = Batcher(predict, ThreadPoolExecutor(2), max_batch_size=16)
        first = asyncio.ensure_future(batcher.submit(np.ones((1, 1))))
        await asyncio.to_thread(running.wait, 5)
        later = [asyncio.ensure_future(batcher.submit(np.ones((1, 1)))) for _ in range(5)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *later)

    assert len(asyncio.run(scenario())) == 6
    assert sizes[0] == 1 and sum(sizes) == 6 and len(sizes) <= 3  # not one call each


def test_a_request_in_a_batch_that_hangs_times_out_and_the_batcher_goes_on() -> None:
    release = threading.Event()

    def predict(rows: Any) -> Any:
        if rows[0, 0] == 0:
            release.wait(5)  # hangs past the request's timeout
        return np.asarray(rows)

    async def scenario() -> tuple[Any, Any]:
        batcher = Batcher(predict, ThreadPoolExecutor(2), max_batch_size=1)
        hung = await asyncio.gather(
            batcher.submit(np.zeros((1, 1)), timeout=0.2), return_exceptions=True
        )
        later = await batcher.submit(np.ones((1, 1)), timeout=2)
        release.set()
        return hung[0], later

    hung, later = asyncio.run(scenario())
    assert isinstance(hung, TimeoutError) and later.tolist() == [[1.0]]
