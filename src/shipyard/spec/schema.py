"""The ``shipyard.yaml`` schema: the one place the project spec is defined.

``shipyard spec schema`` prints it as JSON Schema for editors; the loader
validates against these models, so the two cannot drift.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shipyard.errors import InvalidInputError

if TYPE_CHECKING:
    from shipyard.expressions.alert_rules import AlertRule
from shipyard.refs import check_alias_name, check_model_name
from shipyard.units import parse_duration

Scalar = str | int | float | bool


def _inside_project(value: str) -> str:
    """A path (or glob) relative to the project that stays inside it."""
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "~")) or ".." in parts:
        raise ValueError(
            f"{value!r} must be a path relative to the project directory, inside it "
            "(no leading '/', '~' or '..')"
        )
    if not value.strip():
        raise ValueError("an empty path")
    return value


ProjectPath = Annotated[str, AfterValidator(_inside_project)]
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema({"type": ["string", "number"], "examples": ["30s", "5m", "1h"]}),
]
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
BUILTIN_STAGES = ("train", "validate", "package", "register", "deploy", "verify")


class _Strict(BaseModel):
    """Unknown keys are errors (with a suggestion), never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ModelSpec(_Strict):
    """The model this project produces."""

    name: str = Field(description="Registry name: lowercase letters, digits, '-', '_', '.'.")
    flavor: Literal["sklearn", "pytorch", "onnx", "keras", "custom"] | None = Field(
        default=None,
        description="How the model is stored and loaded; guessed from the file if omitted.",
    )
    path: ProjectPath = Field(
        default="model.skops",
        description="File or directory training writes the model to, relative to the project.",
    )
    entrypoint: str | None = Field(
        default=None,
        description="Main file inside `path`, or `module:Class` for a custom model.",
    )
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    trust: list[str] = Field(
        default_factory=list,
        description="Extra types a skops file may contain (fully qualified names).",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        try:
            return check_model_name(value)
        except InvalidInputError as err:  # pydantic reports ValueErrors with their location
            raise ValueError(f"{err.message}: {err.hint}") from None


class StageOptions(_Strict):
    """What every stage can say about its inputs and how it is run."""

    deps: list[ProjectPath] = Field(
        default_factory=list,
        description="Files or glob patterns (relative to the project) whose content the stage "
        "depends on: a change re-runs it.",
    )
    timeout: Duration | None = Field(default=None, description="Stop an attempt after this long.")
    retries: int = Field(
        default=0, ge=0, le=10, description="Extra attempts after a failure (with backoff)."
    )


class TrainSpec(StageOptions):
    """How to train the model."""

    command: str | None = Field(
        default=None,
        description="Shell command run from the project directory, e.g. `python train.py`.",
    )
    function: str | None = Field(
        default=None, description="Or a Python function to call, as `module:function`."
    )
    params: dict[str, Scalar] = Field(
        default_factory=dict, description="Hyper-parameters, passed to training and recorded."
    )
    metrics: ProjectPath = Field(
        default="metrics.json",
        description="JSON file of {name: number} that training writes; recorded with the version.",
    )

    @model_validator(mode="after")
    def _one_entry(self) -> TrainSpec:
        if (self.command is None) == (self.function is None):
            raise ValueError("give exactly one of 'command' or 'function'")
        if self.function is not None and not re.match(
            r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", self.function
        ):
            raise ValueError(f"function {self.function!r} is not of the form module:function")
        return self


_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class ValidateSpec(StageOptions):
    """How the trained model is validated before it may be registered."""

    data: str = Field(description="`module:function` returning (features, labels) for validation.")
    fit: str | None = Field(
        default=None,
        description="`module:function(params)` returning an unfitted estimator for k-fold "
        "cross-validation; omitted for scikit-learn, the trained model is cloned.",
    )
    folds: int = Field(default=5, ge=0, le=50, description="k of k-fold CV (0: no CV).")
    holdout: float = Field(
        default=0.25, gt=0, lt=1, description="Fraction held out to score candidate and champion."
    )
    seed: int = Field(default=0, description="Seed of the holdout split and the folds.")
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    processes: int | None = Field(
        default=None, ge=1, le=64, description="Folds run at once (default: one per CPU)."
    )
    champion: str = Field(
        default="production",
        description="Alias of the version the candidate must not be worse than.",
    )
    gates: list[str] = Field(
        default_factory=list,
        description="Quality gates, e.g. `accuracy >= 0.95`, `accuracy >= champion - 0.005`, "
        "`cv.f1_macro >= 0.9`, `size_mb <= 50`, `latency_p95_ms <= 5`.",
    )

    @model_validator(mode="after")
    def _check(self) -> ValidateSpec:
        from shipyard.expressions.quality_gates import MEASURED, PREDICTION_METRICS, parse_gate

        for name in ("data", "fit"):
            value = getattr(self, name)
            if value is not None and not _FUNCTION.match(value):
                raise ValueError(f"{name} {value!r} is not of the form module:function")
        unknown = [m for m in self.metrics if m not in PREDICTION_METRICS]
        if unknown:
            raise ValueError(
                f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(PREDICTION_METRICS)}"
            )
        known = {*self.metrics, *MEASURED, *(f"cv.{m}" for m in self.metrics)}
        for text in self.gates:
            gate = parse_gate(text)
            if gate.metric not in known:
                raise ValueError(
                    f"gate {text!r} names metric {gate.metric!r}, which validation does not "
                    f"compute; it computes: {', '.join(sorted(known))}"
                )
        return self


class UserStage(StageOptions):
    """A stage of the user's own: a command with declared inputs and outputs."""

    run: str = Field(description="Shell command run from the project directory.")
    outs: list[ProjectPath] = Field(
        default_factory=list, description="Files or directories the command writes (cached)."
    )
    after: list[str] = Field(
        default_factory=list,
        description="Stages that must finish first, besides those whose "
        "outputs this stage depends on.",
    )


class PackageSpec(_Strict):
    """What goes into the deployable bundle beside the model files."""

    code: list[ProjectPath] = Field(
        default_factory=list,
        description="Files or glob patterns of your code that the model needs when it serves "
        "(a custom model's own directory is always included).",
    )
    requirements: list[str] = Field(
        default_factory=list,
        description="Extra packages the served model needs; pinned to the installed versions.",
    )
    base_image: str = Field(default="python:3.11-slim", description="Base of the Dockerfile.")


class RegisterSpec(_Strict):
    """What the register stage does with the new version."""

    alias: str = Field(default="candidate", description="Alias moved to the new version.")

    @field_validator("alias")
    @classmethod
    def _valid_alias(cls, value: str) -> str:
        try:
            return check_alias_name(value)
        except InvalidInputError as err:
            raise ValueError(f"{err.message}: {err.hint}") from None


class AnalysisSpec(_Strict):
    """What each canary step must show before traffic moves on."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_p95_latency: Duration | None = None
    max_p99_latency: Duration | None = None
    min_requests: int = Field(default=20, ge=1)
    rules: list[str] = Field(
        default_factory=list, description="Extra conditions, e.g. `p95_latency < 100ms`."
    )

    @field_validator("rules")
    @classmethod
    def _valid_rules(cls, rules: list[str]) -> list[str]:
        from shipyard.expressions.rollout_steps import parse_rule

        for rule in rules:
            try:
                parse_rule(rule)
            except InvalidInputError as err:
                raise ValueError(err.message) from None
        return rules


class DeploySpec(_Strict):
    """Roll the registered version out at the end of the pipeline."""

    target: Literal["local"] = Field(default="local", description="Where to deploy.")
    name: str | None = Field(default=None, description="Deployment name (default: the model's).")
    strategy: Literal["recreate", "rolling", "blue-green", "canary", "shadow"] = "rolling"
    steps: list[int] | None = Field(default=None, description="Canary weights, e.g. [10, 50, 100].")
    interval: Duration | None = Field(
        default=None, description="Wait and analyse this long at each step; none: pause."
    )
    port: int | None = Field(default=None, ge=1, le=65535)
    replicas: int | None = Field(
        default=None, ge=1, le=64, description="Worker processes (a new deployment: 1)."
    )
    rollback_window: Duration | None = Field(
        default=None, description="Keep the old version warm this long (a new deployment: 10m)."
    )
    analysis: AnalysisSpec = Field(default_factory=lambda: AnalysisSpec())
    wait: bool = Field(
        default=False,
        description="Wait for the rollout to finish (else the run ends once it is under way); "
        "a rollout that pauses ends the run paused, exit 12.",
    )

    @field_validator("steps")
    @classmethod
    def _valid_steps(cls, steps: list[int] | None) -> list[int] | None:
        from shipyard.expressions.rollout_steps import check_steps

        if steps is not None:
            try:
                check_steps(tuple(steps))
            except InvalidInputError as err:
                raise ValueError(err.message) from None
        return steps


class VerifySample(_Strict):
    """One smoke request and the answer it must get."""

    input: list[Any] = Field(description="One row (or a list of rows) sent to the new version.")
    expect: Any = Field(
        description="The prediction for that row (or the list of predictions for the rows)."
    )


class VerifySpec(_Strict):
    """Smoke requests against the new version, pinned to it, before it is trusted."""

    samples: list[VerifySample] = Field(min_length=1)
    tolerance: float = Field(default=1e-6, ge=0, description="For numbers: absolute difference.")


Action = Literal["notify", "rollback", "retrain"]


class AlertSpec(_Strict):
    """One alert rule: a condition on a metric over a window, held for a while."""

    name: str = Field(description="Alert name, e.g. HighErrorRate (letters, digits, '_').")
    when: str = Field(
        description="METRIC OP THRESHOLD: `error_rate > 0.02`, `p99_latency > 250ms`, "
        "`drift_psi > 0.2`, `live_accuracy < 0.9`, `requests < 1`."
    )
    for_: Duration = Field(
        default=0.0, alias="for", description="How long the condition must hold before firing."
    )
    window: Duration = Field(default=300.0, description="The window the metric is computed over.")
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=lambda: list[Action](["notify"]))

    @model_validator(mode="after")
    def _valid(self) -> AlertSpec:
        self.rule()
        return self

    def rule(self) -> AlertRule:
        """The rule in the monitoring vocabulary (checked: a clear error otherwise)."""
        from shipyard.expressions.alert_rules import alert_rule

        try:
            return alert_rule(
                self.name,
                self.when,
                window=self.window,
                for_=self.for_,
                severity=self.severity,
                labels=self.labels,
                actions=tuple(self.actions),
            )
        except InvalidInputError as err:
            raise ValueError(err.message + (f" ({err.hint})" if err.hint else "")) from None


class NotifySpec(_Strict):
    """A channel alerts are sent to."""

    webhook: str = Field(description="An http(s) URL that takes a POST.")
    format: Literal["json", "slack", "alertmanager"] = Field(
        default="json",
        description="json: Slack-compatible `text` plus the alerts as data; slack: text and "
        "blocks; alertmanager: Alertmanager's /api/v2/alerts list.",
    )
    timeout: Duration = Field(default=5.0, gt=0, description="How long one attempt may take.")
    retries: int = Field(
        default=4, ge=0, le=10, description="Tries again after a failure: 1 s, 2 s, 4 s, … apart."
    )
    send_resolved: bool = Field(default=True, description="Also say when an alert resolves.")

    @field_validator("webhook")
    @classmethod
    def _url(cls, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook {url!r}: expected an http:// or https:// URL")
        return url


class MonitorSpec(_Strict):
    """How the deployed model is watched."""

    reference: Literal["validate", "none"] = Field(
        default="validate",
        description="validate: keep a summary of the validation inputs (per-feature quantile "
        "bins) with each registered version, for drift checks; none: keep none.",
    )
    alerts: list[AlertSpec] = Field(default_factory=list)
    notify: list[NotifySpec] = Field(default_factory=list)
    cooldown: Duration = Field(
        default=600.0,
        description="After an action (rollback, retrain) on a deployment, the same action "
        "waits this long before it can run again.",
    )
    unavailable_after: Duration = Field(
        default=60.0,
        description="Metrics that cannot be scraped for this long raise MetricsUnavailable.",
    )
    prometheus_url: str | None = Field(
        default=None,
        description="Evaluate rules and canary analysis with this Prometheus's HTTP API "
        "instead of the control plane's own scraper.",
    )
    evaluation_interval: Duration = Field(
        default=15.0,
        gt=0,
        description="With prometheus_url: how often the rules are evaluated (without it, "
        "after every scrape of the control plane).",
    )

    @field_validator("alerts")
    @classmethod
    def _unique(cls, alerts: list[AlertSpec]) -> list[AlertSpec]:
        names = [a.name for a in alerts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"alert name(s) given twice: {', '.join(twice)}")
        return alerts


class ProjectSpec(_Strict):
    """A Shipyard project: ``shipyard.yaml`` at the root of a git work tree."""

    model: ModelSpec
    train: TrainSpec | None = None
    stages: dict[str, UserStage] = Field(
        default_factory=dict, description="Your own stages, by name, beside the built-in ones."
    )
    # `validate` and `register` would shadow BaseModel attributes; the file's keys keep the names.
    validate_stage: ValidateSpec | None = Field(default=None, alias="validate")
    package: PackageSpec = Field(default_factory=PackageSpec)
    register_stage: RegisterSpec = Field(default_factory=RegisterSpec, alias="register")
    deploy: DeploySpec | None = None
    verify: VerifySpec | None = None
    monitor: MonitorSpec | None = None

    @model_validator(mode="after")
    def _verify_needs_deploy(self) -> ProjectSpec:
        if self.verify is not None and self.deploy is None:
            raise ValueError("`verify` checks a deployment: add a `deploy` section")
        if self.deploy is not None and self.train is None:
            raise ValueError("`deploy` rolls out what `train` produced: add a `train` section")
        return self

    @field_validator("stages")
    @classmethod
    def _stage_names(cls, stages: dict[str, UserStage]) -> dict[str, UserStage]:
        for name in stages:
            if not _STAGE_NAME.match(name):
                raise ValueError(f"stage name {name!r}: use lowercase letters, digits, - and _")
            if name in BUILTIN_STAGES:
                raise ValueError(f"stage name {name!r} is a built-in stage; choose another")
        return stages


def json_schema() -> dict[str, Any]:
    """The spec as JSON Schema (draft 2020-12)."""
    schema = ProjectSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "shipyard.yaml"
    return schema
