"""Shipyard: from a git commit to a monitored production endpoint, and back.

The names here are the small Python API that training code and notebooks use;
the rest of the package is reached through the ``shipyard`` command.
"""

from __future__ import annotations

from shipyard.api import holdout_split, load_model, params
from shipyard.tracking import log_metric, log_metrics, log_params, save_model

__version__ = "0.1.0"
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
