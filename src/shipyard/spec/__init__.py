"""The project spec, ``shipyard.yaml``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.spec.files import SPEC_FILE, find_spec

if TYPE_CHECKING:
    from shipyard.spec.load import load_spec, parse_spec
    from shipyard.spec.schema import ModelSpec, ProjectSpec, TrainSpec, json_schema

# Imported on first use: the schema is pydantic models and the loader is YAML, which a
# no-op `shipyard run` with an unchanged spec does not need (see pipeline.blueprint).
_EXPORTS = {
    "load_spec": "shipyard.spec.load",
    "parse_spec": "shipyard.spec.load",
    "ModelSpec": "shipyard.spec.schema",
    "ProjectSpec": "shipyard.spec.schema",
    "TrainSpec": "shipyard.spec.schema",
    "json_schema": "shipyard.spec.schema",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'shipyard.spec' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


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
