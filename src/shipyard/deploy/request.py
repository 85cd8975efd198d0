"""What a deploy asks for, and the checks made before anything is written: the
deployment's name and its host (the target checks the rest: ``targets/``)."""

from __future__ import annotations

import re
import socket
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shipyard.deploy.plan import AnalysisPolicy
from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.expressions.rollout_steps import STRATEGIES
from shipyard.units import parse_duration

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class RefusedVersion(ShipyardError):
    """The version failed its quality gates; ``--force`` deploys it anyway."""

    exit_code = 3


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


Duration = Annotated[float, BeforeValidator(parse_duration)]


_POLICY = AnalysisPolicy()  # the defaults, kept once: by the plan's own record


class AnalysisRequest(_Request):
    """Thresholds of each canary step's analysis."""

    max_error_rate: float = Field(default=_POLICY.max_error_rate, ge=0, le=1)
    max_p95_latency: Duration | None = _POLICY.max_p95_latency
    max_p99_latency: Duration | None = _POLICY.max_p99_latency
    max_error_rate_increase: float = Field(default=_POLICY.max_error_rate_increase, ge=0, le=1)
    max_latency_ratio: float = Field(default=_POLICY.max_latency_ratio, gt=0)
    latency_slack: Duration = _POLICY.latency_slack
    max_shadow_mismatch: float | None = Field(default=_POLICY.max_shadow_mismatch, ge=0, le=1)
    min_requests: int = Field(default=_POLICY.min_requests, ge=1)
    rules: list[str] = Field(default_factory=list, description="e.g. 'p99_latency < 250ms'")

    def policy(self) -> AnalysisPolicy:
        """As the plan keeps them."""
        return AnalysisPolicy(**{**self.model_dump(), "rules": tuple(self.rules)})


class DeployRequest(_Request):
    """What ``shipyard deploy``, the pipeline's deploy stage and ``POST
    /api/v1/deployments`` ask for: roll a version out to a deployment (created if new).
    The REST body, checked by pydantic and published in the OpenAPI document."""

    model: str
    version: int | str = Field(description="A version number or an alias ('candidate').")
    name: str | None = Field(default=None, description="Deployment name (default: the model's).")
    strategy: str = Field(default="rolling", json_schema_extra={"enum": list(STRATEGIES)})
    steps: list[int] | None = Field(default=None, description="Canary weights, e.g. [10, 50, 100].")
    interval: Duration | None = Field(
        None, description="Wait (and analyse) this long at each step; none: pause for promote."
    )
    shadow_percent: int = Field(default=100, ge=1, le=100)
    analysis: AnalysisRequest = Field(default_factory=lambda: AnalysisRequest())
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


def check_deployment_name(name: str) -> str:
    """A deployment name doubles as a file name and a URL part: no path characters."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"invalid deployment name {name!r}",
            hint="use 1-63 lowercase letters, digits or '-', starting and ending with a letter "
            "or digit (no '/', '.', or spaces: it names files and URLs)",
        )
    return name


def check_host(host: str) -> str:
    """An address this machine can listen on, or a clear error."""
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise InvalidInputError(
            f"--host {host!r} is not an address this machine can listen on: {err}",
            hint="use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
        ) from None
    return host
