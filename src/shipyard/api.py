"""The Python API for user code: hyper-parameters in, registered models out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shipyard.errors import SpecError
from shipyard.flavors import Predictor, TrustPolicy
from shipyard.home import resolve_home, stores_for

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


def holdout_split(features: Any, labels: Any, start: Path | None = None) -> tuple[Any, ...]:
    """``x_train, x_holdout, y_train, y_holdout`` — the split the validate stage scores on.

    Training on the first part keeps the holdout unseen, so the candidate and the
    champion are compared on data neither was fitted to. The fraction and seed come
    from the spec's ``validate`` section (0.25 and 0 without one).
    """
    from shipyard.spec import find_spec, load_spec
    from shipyard.validation.worker import holdout_split as split

    found = find_spec((start or Path.cwd()).resolve())
    spec = load_spec(found).validate_stage if found else None
    fraction, seed = (spec.holdout, spec.seed) if spec else (0.25, 0)
    return split(features, labels, fraction, seed)


def load_model(
    ref: str, *, home: str | Path | None = None, trust: TrustPolicy | None = None
) -> Predictor:
    """Load a registered model (``name``, ``name:3`` or ``name@alias``), digest-verified."""
    from shipyard.refs import parse_ref
    from shipyard.registry.checkout import load

    stores = stores_for(resolve_home(home))
    try:
        return load(stores, parse_ref(ref), trust)
    finally:
        stores.close()
