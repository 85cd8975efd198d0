"""Rollout steps and analysis rules as written on the command line and in ``deploy:``.

``--steps 10,50,100`` (a canary's weights) and ``p99_latency < 250ms`` (a rule a
step's analysis checks), parsed with clear errors; the planner (``deploy/plan.py``)
turns them into a plan, the spec checks them when it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.errors import InvalidInputError
from shipyard.units import parse_duration

STRATEGIES = ("recreate", "rolling", "blue-green", "canary", "shadow")
RULE_METRICS = ("error_rate", "p50_latency", "p95_latency", "p99_latency", "requests")


@dataclass(frozen=True, slots=True)
class Rule:
    """A condition the new version must meet during a step: ``p99_latency < 250ms``."""

    metric: str
    op: str
    threshold: float
    text: str


def parse_steps(text: str) -> tuple[int, ...]:
    """``10,50,100`` → the canary's weights: increasing percents ending at 100."""
    try:
        steps = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise InvalidInputError(
            f"--steps {text!r}: expected percents separated by commas, like 10,50,100"
        ) from None
    return check_steps(steps)


def check_steps(steps: tuple[int, ...]) -> tuple[int, ...]:
    """Canary weights: increasing percents; 100 is added at the end if missing."""
    shown = ",".join(map(str, steps))
    if not steps or any(not 0 < s <= 100 for s in steps):
        raise InvalidInputError(f"steps {shown!r}: each step is a percent from 1 to 100")
    if list(steps) != sorted(set(steps)):
        raise InvalidInputError(f"steps {shown!r}: steps must increase")
    return steps if steps[-1] == 100 else (*steps, 100)


def parse_rule(text: str) -> Rule:
    """``p99_latency < 250ms``, ``error_rate <= 0.02`` → a rule; clear errors otherwise."""
    parts = text.split()
    if len(parts) != 3 or parts[1] not in ("<", "<=", ">", ">="):
        raise InvalidInputError(
            f"analysis rule {text!r}: expected 'METRIC OP THRESHOLD', like 'p99_latency < 250ms'"
        )
    metric, op, value = parts
    if metric not in RULE_METRICS:
        raise InvalidInputError(
            f"analysis rule {text!r}: unknown metric {metric!r}; known: {', '.join(RULE_METRICS)}"
        )
    try:
        threshold = parse_duration(value) if metric.endswith("_latency") else float(value)
    except ValueError as err:
        raise InvalidInputError(f"analysis rule {text!r}: {err}") from None
    return Rule(metric, op, threshold, text)
