"""Request bodies of the REST API, checked by pydantic (and published in its OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shipyard.deploy.plan import AnalysisPolicy
from shipyard.deploy.request import DeployRequest
from shipyard.expressions.rollout_steps import STRATEGIES
from shipyard.spec.schema import MonitorSpec
from shipyard.units import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalysisBody(_Body):
    """Thresholds of each canary step's analysis."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_p95_latency: Duration | None = None
    max_p99_latency: Duration | None = None
    max_error_rate_increase: float = Field(default=0.01, ge=0, le=1)
    max_latency_ratio: float = Field(default=2.0, gt=0)
    latency_slack: Duration = 0.010
    max_shadow_mismatch: float | None = Field(default=None, ge=0, le=1)
    min_requests: int = Field(default=20, ge=1)
    rules: list[str] = Field(default_factory=list, description="e.g. 'p99_latency < 250ms'")


class DeployBody(_Body):
    """``POST /api/v1/deployments``: roll a version out to a deployment (created if new)."""

    model: str
    version: int | str = Field(description="A version number or an alias ('candidate').")
    name: str | None = Field(default=None, description="Deployment name (default: the model's).")
    strategy: str = Field(default="rolling", json_schema_extra={"enum": list(STRATEGIES)})
    steps: list[int] | None = Field(default=None, description="Canary weights, e.g. [10, 50, 100].")
    interval: Duration | None = Field(
        None, description="Wait (and analyse) this long at each step; none: pause for promote."
    )
    shadow_percent: int = Field(default=100, ge=1, le=100)
    analysis: AnalysisBody = Field(default_factory=lambda: AnalysisBody())
    on_resume: str = Field(default="continue", json_schema_extra={"enum": ["continue", "abort"]})
    port: int | None = Field(default=None, ge=1, le=65535)
    # None: the default for a new deployment (127.0.0.1, 1, production, 10m), else its own
    host: str | None = None
    replicas: int | None = Field(default=None, ge=1, le=1000)  # local workers: up to 64
    alias: str | None = None
    rollback_window: Duration | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    target: str | None = Field(
        default=None,
        description="local or kubernetes (a new deployment: local; an existing one: its own).",
        json_schema_extra={"enum": ["local", "kubernetes"]},
    )
    force: bool = False
    reason: str = ""

    def request(self) -> DeployRequest:
        """The service's request."""
        analysis = self.analysis.model_dump()
        analysis["rules"] = tuple(analysis["rules"])
        values = self.model_dump(exclude={"analysis", "steps"})
        return DeployRequest(
            **values,
            steps=None if self.steps is None else tuple(self.steps),
            analysis=AnalysisPolicy(**analysis),
        )


class ReasonBody(_Body):
    """``POST …/abort``: why."""

    reason: str = ""


class PromoteBody(_Body):
    """``POST …/promote``: the next step, or with ``full`` all traffic, now."""

    full: bool = False
    reason: str = ""


class RollbackBody(_Body):
    """``POST …/rollback``: to the previous version, or to ``to``."""

    to: int | None = Field(default=None, ge=1)
    reason: str = ""


class TrafficBody(_Body):
    """``PUT …/traffic``: a split by hand, in percent summing to 100."""

    weights: dict[str, int]
    shadow: dict[str, int] = Field(default_factory=dict)
    reason: str = ""


class MonitorBody(_Body):
    """``PUT /api/v1/deployments/{name}/monitor``: watch the deployment with these rules."""

    monitor: MonitorSpec = Field(description="A `monitor:` section of shipyard.yaml.")
    project: str | None = Field(
        default=None, description="The project's absolute path (where `retrain` runs)."
    )


class AlertTestBody(_Body):
    """``POST /api/v1/alerts/{rule}/test``: which deployment's rule, when several have it."""

    deployment: str | None = None


class AliasMoveBody(_Body):
    """``POST /api/v1/models/{model}/aliases/{alias}``: move an alias (a client's decision)."""

    to_version: int | None = Field(ge=1, description="None deletes the alias.")
    action: str = Field(json_schema_extra={"enum": ["set", "rollback", "delete"]})
    reason: str = ""
    expect_last_move: int | None = Field(
        default=None, description="Refuse (409) unless this is still the newest history entry."
    )


class FinishBody(_Body):
    """``POST /api/v1/runs/{id}/finish``: how the run ended."""

    status: str = Field(
        json_schema_extra={"enum": ["succeeded", "paused", "failed", "interrupted"]}
    )
    error: str | None = None


class TokenBody(_Body):
    """``POST /api/v1/tokens``: a named token and what it may do."""

    name: str = Field(description="Who uses it; the actor of its events ('jenkins', 'alice').")
    scopes: list[str] = Field(
        min_length=1, description="read, register, deploy, admin (every token may read)."
    )
