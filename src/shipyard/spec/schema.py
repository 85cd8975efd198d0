"""The ``shipyard.yaml`` schema: the one place the project spec is defined.

``shipyard spec schema`` prints it as JSON Schema for editors; the loader
validates against these models, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shipyard.errors import InvalidInputError
from shipyard.refs import check_model_name

Scalar = str | int | float | bool


class _Strict(BaseModel):
    """Unknown keys are errors (with a suggestion), never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """The model this project produces."""

    name: str = Field(description="Registry name: lowercase letters, digits, '-', '_', '.'.")
    flavor: Literal["sklearn", "pytorch", "onnx", "custom"] | None = Field(
        default=None,
        description="How the model is stored and loaded; guessed from the file if omitted.",
    )
    path: str = Field(
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


class TrainSpec(_Strict):
    """How to train the model."""

    command: str = Field(
        description="Shell command run from the project directory, e.g. `python train.py`."
    )
    params: dict[str, Scalar] = Field(
        default_factory=dict, description="Hyper-parameters, passed to training and recorded."
    )
    metrics: str = Field(
        default="metrics.json",
        description="JSON file of {name: number} that training writes; recorded with the version.",
    )


class ProjectSpec(_Strict):
    """A Shipyard project: ``shipyard.yaml`` at the root of a git work tree."""

    model: ModelSpec
    train: TrainSpec | None = None


def json_schema() -> dict[str, Any]:
    """The spec as JSON Schema (draft 2020-12)."""
    schema = ProjectSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "shipyard.yaml"
    return schema
