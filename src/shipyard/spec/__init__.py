"""The project spec, ``shipyard.yaml``."""

from shipyard.spec.load import SPEC_FILE, find_spec, load_spec, parse_spec
from shipyard.spec.schema import ModelSpec, ProjectSpec, TrainSpec, json_schema

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
