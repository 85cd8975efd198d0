"""Feedback: a true label joined to a logged prediction, counted per version that answered.

``POST /v1|v2/models/{model}/feedback`` with ``{"request_id": "...", "label": 7}``
(a list of labels for a request of several rows; a number for a regression). A
version that answers with class scores (a network's logits) is compared by the class
of its highest score; one probability column counts as a regression's number.
The prediction is looked up in the deployment's prediction log, which every
worker writes; one that is not there yet may still be in another worker's
queue, so a miss is declared only after waiting ``MISS_WAIT_S`` (the log is
written at least every ``predictions.FLUSH_S``). Claiming the prediction for
feedback is one conditional update in the shared file, so feedback given twice
for one request — to any worker — is counted once and answered 409.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.scores import class_of
from shipyard.serving.codec import ProtocolError
from shipyard.serving.metrics import FEEDBACK, FEEDBACK_ERROR
from shipyard.serving.predictions import Logged, PredictionLog
from shipyard.units import format_duration

MISS_WAIT_S = 1.0
_RETRY_S = 0.1


@dataclass(frozen=True, slots=True)
class _Request:
    request_id: str
    label: Any


class Feedback:
    """Joins feedback to the prediction log and counts it."""

    def __init__(self, log: PredictionLog, deployment: str, model: str) -> None:
        self.log = log
        self.labels = {"deployment": deployment, "model": model}

    async def __call__(self, body: Any) -> dict[str, Any]:
        """The answer to one feedback request, or ``ProtocolError``."""
        request = _parse(body)
        logged = await self._find(request.request_id)
        if self.log.expired(logged):
            raise ProtocolError(
                f"request {request.request_id!r} has expired: predictions are kept "
                f"{format_duration(self.log.retention_s)}",
                404,
            )
        values = _values(logged.outputs)
        if values is None:
            raise ProtocolError(
                f"version {logged.version}'s answer is not one value per row, so a label "
                "cannot be compared with it",
                400,
            )
        labels = _labels(request.label, len(values))
        classes = not any(isinstance(v, float) for v in values)
        if classes:
            _check(
                labels,
                _is_class,
                "a class label (an integer or a string), as the model "
                f"predicts classes such as {values[0]!r}",
            )
        else:
            _check(
                labels,
                _is_number,
                "a number, as this version is a regression (its outputs are numbers)",
            )
        if not await asyncio.to_thread(self.log.claim, request.request_id):
            raise ProtocolError(
                f"feedback for request {request.request_id!r} was already given; it is "
                "counted once",
                409,
            )
        return self._count(logged, values, labels, classes, isinstance(request.label, list))

    async def _find(self, request_id: str) -> Logged:
        deadline = time.monotonic() + MISS_WAIT_S
        while True:
            logged = await asyncio.to_thread(self.log.lookup, request_id)
            if logged is not None:
                return logged
            if time.monotonic() >= deadline:
                raise ProtocolError(
                    f"no prediction with request id {request_id!r}: it is unknown, or it "
                    f"expired (predictions are kept {format_duration(self.log.retention_s)}, "
                    f"{self.log.max_rows:,} at most)",
                    404,
                )
            await asyncio.sleep(_RETRY_S)

    def _count(
        self, logged: Logged, values: list[Any], labels: list[Any], classes: bool, many: bool
    ) -> dict[str, Any]:
        series = {**self.labels, "version": logged.version}
        answer: dict[str, Any] = {"request_id": logged.request_id, "version": logged.version}
        if classes:
            correct = [
                str(label) == str(value) for label, value in zip(labels, values, strict=True)
            ]
            hits = sum(correct)
            if hits:
                FEEDBACK.labels(**series, outcome="correct").inc(hits)
            if len(correct) - hits:
                FEEDBACK.labels(**series, outcome="wrong").inc(len(correct) - hits)
            answer["correct"] = correct if many else correct[0]
        else:
            errors = [abs(float(y) - float(v)) for y, v in zip(labels, values, strict=True)]
            FEEDBACK.labels(**series, outcome="scored").inc(len(errors))
            FEEDBACK_ERROR.labels(**series).inc(sum(errors))
            answer["absolute_error"] = errors if many else errors[0]
        return answer


def _parse(body: Any) -> _Request:
    example = 'e.g. {"request_id": "<the x-request-id of the answer>", "label": 7}'
    if not isinstance(body, dict):
        raise ProtocolError(f"expected a JSON object; {example}", 400)
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise ProtocolError(f"missing 'request_id' (a string); {example}", 400)
    if body.get("label") is None:
        raise ProtocolError(f"missing 'label'; {example}", 400)
    return _Request(request_id, body["label"])


def _value(row: Any) -> Any:
    """A row's predicted value: a row of one value is that value, a row of class scores the
    class of the highest."""
    if isinstance(row, list) and len(row) == 1:
        return row[0]
    scored = class_of(row)
    return row if scored is None else scored


def _values(outputs: Any) -> list[Any] | None:
    """One predicted value per row, or None."""
    rows = outputs if isinstance(outputs, list) else [outputs]
    values = [_value(row) for row in rows]
    if not values or not all(isinstance(v, bool | int | float | str) for v in values):
        return None
    return values


def _labels(label: Any, rows: int) -> list[Any]:
    if isinstance(label, list):
        if len(label) != rows:
            raise ProtocolError(
                f"expected {rows} label(s), one per row of the request, got {len(label)}", 400
            )
        return label
    if rows != 1:
        raise ProtocolError(
            f"the request had {rows} rows: give a list of {rows} labels, one per row", 400
        )
    return [label]


def _is_class(label: Any) -> bool:
    return isinstance(label, str | int)


def _is_number(label: Any) -> bool:
    return isinstance(label, int | float) and not isinstance(label, bool) and math.isfinite(label)


def _check(labels: list[Any], valid: Callable[[Any], bool], expected: str) -> None:
    for label in labels:
        if not valid(label):
            raise ProtocolError(
                f"label {label!r} ({type(label).__name__}): expected {expected}", 400
            )
