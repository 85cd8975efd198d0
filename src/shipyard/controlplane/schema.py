"""Request bodies of the REST API, checked by pydantic (and published in its OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shipyard.spec.schema import MonitorSpec
from shipyard.units import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
