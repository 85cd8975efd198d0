"""Data and model for the digits example."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 images as 64 pixel intensities (0-16) and their digit labels."""
    features, labels = load_digits(return_X_y=True)
    return features.astype(np.float32), labels


def build_model(params: dict[str, Any]) -> Pipeline:
    """Standardised pixels into a multinomial logistic regression."""
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(C=float(params["C"]), max_iter=int(params["max_iter"])),
    )
