"""The model registry: immutable versions with lineage (``service``), aliases with their
history (``aliases``), and getting a version's verified files back out (``checkout``).

The CLI, the pipeline and the control plane's handlers all call these functions; the
stores only keep what they decide.
"""

from __future__ import annotations

from shipyard.registry.service import (
    RegisterOptions,
    Registration,
    choose_flavor,
    content_digest,
    model_content,
    reference_of,
    register,
    requirements_of,
    resolve,
)

__all__ = [
    "RegisterOptions",
    "Registration",
    "choose_flavor",
    "content_digest",
    "model_content",
    "reference_of",
    "register",
    "requirements_of",
    "resolve",
]
