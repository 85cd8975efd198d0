"""Data and model for the Keras digits example: the MLP of the practice this follows."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.datasets import load_digits

from shipyard.keras import keras  # Keras on the backend the model will be served on


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 images as (8, 8) arrays of pixels scaled to [0, 1], and their digits."""
    images, labels = load_digits(return_X_y=True)
    return (images.reshape(-1, 8, 8) / 16.0).astype(np.float32), labels


def build_model(params: dict[str, Any]) -> Any:
    """A fresh, compiled MLP: Flatten, Dense 128 relu, Dropout 0.2, Dense 10 (logits)."""
    model = keras.Sequential(
        [
            keras.Input((8, 8)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(params["learning_rate"])),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
