"""The project spec, ``shipyard.yaml``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard import lazy
from shipyard.spec.files import SPEC_FILE, find_spec

if TYPE_CHECKING:
    from shipyard.spec.load import load_spec, parse_spec
    from shipyard.spec.schema import ModelSpec, ProjectSpec, TrainSpec, json_schema

# Imported on first use: the schema is pydantic models and the loader is YAML, which a
# no-op `shipyard run` with an unchanged spec does not need (see pipeline.blueprint).
__getattr__ = lazy.exports(
    __name__,
    {
        "load_spec": "shipyard.spec.load",
        "parse_spec": "shipyard.spec.load",
        "ModelSpec": "shipyard.spec.schema",
        "ProjectSpec": "shipyard.spec.schema",
        "TrainSpec": "shipyard.spec.schema",
        "json_schema": "shipyard.spec.schema",
    },
)


__all__ = [
    "SPEC_FILE",
    "ModelSpec",
    "ProjectSpec",
    "TrainSpec",
    "find_spec",
    "json_schema",
    "load_spec",
    "parse_spec",
]
