"""Strategies as plans: the steps a rollout walks through, and what each step checks.

A plan is data (stored with the rollout, so a restarted control plane resumes
the same plan). Each step gives the new version a share of live traffic (or a
copy of it, for shadow), then waits, analyses, or pauses until ``promote``.

| strategy   | steps                                                            |
|------------|------------------------------------------------------------------|
| recreate   | stop the server, start it with the new version (downtime)        |
| rolling    | load beside the old version, switch all traffic at once          |
| blue-green | load a full second copy, smoke-test it pinned, then switch       |
| canary     | weight steps (10, 50, 100); wait and analyse (or pause) at each  |
| shadow     | mirror a percentage, compare answers, pause; live on ``promote`` |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.expressions.rollout_steps import STRATEGIES, check_steps, parse_rule

RESUME_POLICIES = ("continue", "abort")


@dataclass(frozen=True, slots=True)
class Step:
    """One step: the new version's share of traffic and what happens before the next."""

    weight: int  # percent of live traffic to the new version
    shadow: int = 0  # percent of live traffic copied to it (answers discarded)
    pause: float | None = 0.0  # seconds to wait; None: until `shipyard promote`
    analyze: bool = False  # check the step's metrics before going on
    verify: bool = False  # smoke-test the new version (pinned) before traffic moves


@dataclass(frozen=True, slots=True)
class AnalysisPolicy:
    """Thresholds for a step's analysis: absolute, and relative to the stable version."""

    max_error_rate: float = 0.01
    max_p95_latency: float | None = None  # seconds
    max_p99_latency: float | None = None
    max_error_rate_increase: float = 0.01  # over the stable version's error rate
    max_latency_ratio: float = 2.0  # p99 no worse than ratio times stable's p99 …
    latency_slack: float = 0.010  # … plus this many seconds (noise at low latency)
    max_shadow_mismatch: float | None = None  # share of shadow answers that differ
    min_requests: int = 20  # fewer in the window: inconclusive, never "healthy"
    rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a rollout needs to run again after a restart."""

    steps: tuple[Step, ...]
    analysis: AnalysisPolicy = field(default_factory=AnalysisPolicy)
    on_resume: str = "continue"  # after a control-plane restart: continue or abort

    def to_data(self) -> dict[str, Any]:
        """The plan as stored with the rollout."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Plan:
        """The plan a rollout stored."""
        analysis = dict(data.get("analysis") or {})
        analysis["rules"] = tuple(analysis.get("rules") or ())
        return cls(
            steps=tuple(Step(**s) for s in data["steps"]),
            analysis=AnalysisPolicy(**analysis),
            on_resume=data.get("on_resume", "continue"),
        )


def build_plan(
    strategy: str,
    *,
    steps: tuple[int, ...] | None = None,
    interval: float | None = None,
    shadow_percent: int = 100,
    analysis: AnalysisPolicy | None = None,
    on_resume: str = "continue",
) -> Plan:
    """The steps of ``strategy``; ``interval`` None on canary/shadow means pause for promote."""
    if strategy not in STRATEGIES:
        raise InvalidInputError(
            f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}"
        )
    if on_resume not in RESUME_POLICIES:
        raise InvalidInputError(f"on-resume {on_resume!r}: choose 'continue' or 'abort'")
    if steps is not None and strategy != "canary":
        raise InvalidInputError(f"--steps applies to the canary strategy, not {strategy}")
    if not 0 < shadow_percent <= 100:
        raise InvalidInputError(f"--shadow-percent {shadow_percent}: a percent from 1 to 100")
    for rule in (analysis or AnalysisPolicy()).rules:
        parse_rule(rule)
    if strategy in ("recreate", "rolling"):
        plan: tuple[Step, ...] = (Step(100),)
    elif strategy == "blue-green":
        plan = (Step(0, pause=interval or 0.0, verify=True), Step(100))
    elif strategy == "canary":
        weights = check_steps(steps) if steps else (10, 50, 100)
        plan = (*tuple(Step(w, pause=interval, analyze=True) for w in weights[:-1]), Step(100))
    elif interval is None:  # shadow: mirror until a person promotes
        plan = (Step(0, shadow=shadow_percent, pause=None), Step(100))
    else:  # shadow: mirror and compare for the interval, then wait for a person
        mirror = Step(0, shadow=shadow_percent, pause=interval, analyze=True)
        plan = (mirror, Step(0, shadow=shadow_percent, pause=None), Step(100))
    return Plan(plan, analysis or AnalysisPolicy(), on_resume)
