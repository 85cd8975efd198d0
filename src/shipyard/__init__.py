"""Shipyard: from a git commit to a monitored production endpoint, and back.

The names here are the small Python API that training code and notebooks use;
the rest of the package is reached through the ``shipyard`` command.
"""

from __future__ import annotations

from shipyard.api import load_model, params

__version__ = "0.1.0"
__all__ = ["__version__", "load_model", "params"]
