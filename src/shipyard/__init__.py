"""Shipyard: from a git commit to a monitored production endpoint, and back.

The names here are the small Python API that training code and notebooks use;
the rest of the package is reached through the ``shipyard`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.api import holdout_split, load_model, params
    from shipyard.tracking import log_metric, log_metrics, log_params, save_model

__version__ = "0.1.0"
# Imported on first use, so that `shipyard --version` and the CLI do not load them.
_EXPORTS = {
    "holdout_split": "shipyard.api",
    "load_model": "shipyard.api",
    "params": "shipyard.api",
    "log_metric": "shipyard.tracking",
    "log_metrics": "shipyard.tracking",
    "log_params": "shipyard.tracking",
    "save_model": "shipyard.tracking",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "__version__",
    "holdout_split",
    "load_model",
    "log_metric",
    "log_metrics",
    "log_params",
    "params",
    "save_model",
]
