"""The Python API for user code: hyper-parameters in, registered models out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shipyard.errors import SpecError
from shipyard.flavors import Predictor, TrustPolicy
from shipyard.home import resolve_home

PARAMS_ENV = "SHIPYARD_PARAMS"


def params(start: Path | None = None) -> dict[str, Any]:
    """Training hyper-parameters: ``train.params`` of the nearest ``shipyard.yaml``,
    overridden by the JSON object in ``$SHIPYARD_PARAMS`` (set by ``shipyard run``)."""
    from shipyard.spec import find_spec, load_spec

    found = find_spec((start or Path.cwd()).resolve())
    values: dict[str, Any] = {}
    if found is not None:
        spec = load_spec(found)
        values.update(spec.train.params if spec.train else {})
    override = os.environ.get(PARAMS_ENV)
    if override:
        try:
            extra = json.loads(override)
        except json.JSONDecodeError as err:
            raise SpecError(f"${PARAMS_ENV} is not valid JSON: {err}") from None
        if not isinstance(extra, dict):
            raise SpecError(f"${PARAMS_ENV} must be a JSON object of name: value")
        values.update(extra)
    return values


def load_model(
    ref: str, *, home: str | Path | None = None, trust: TrustPolicy | None = None
) -> Predictor:
    """Load a registered model (``name``, ``name:3`` or ``name@alias``), digest-verified."""
    from shipyard.checkout import load
    from shipyard.refs import parse_ref
    from shipyard.store import open_stores

    stores = open_stores(resolve_home(home))
    try:
        return load(stores, parse_ref(ref), trust)
    finally:
        stores.close()
