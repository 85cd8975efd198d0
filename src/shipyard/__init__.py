"""Shipyard: from a git commit to a monitored production endpoint, and back.

The names here are the small Python API that training code and notebooks use;
the rest of the package is reached through the ``shipyard`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard import lazy

if TYPE_CHECKING:
    from shipyard.api import holdout_split, load_model, params
    from shipyard.tracking import log_metric, log_metrics, log_params, save_model

__version__ = "0.1.0"
# Imported on first use, so that `shipyard --version` and the CLI do not load them.
__getattr__ = lazy.exports(
    __name__,
    {
        "holdout_split": "shipyard.api",
        "load_model": "shipyard.api",
        "params": "shipyard.api",
        "log_metric": "shipyard.tracking",
        "log_metrics": "shipyard.tracking",
        "log_params": "shipyard.tracking",
        "save_model": "shipyard.tracking",
    },
)


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
