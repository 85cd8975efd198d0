"""Data and model for the Keras LSTM sentiment example: Embedding → LSTM → Dense(1, sigmoid).

The network reads token ids; ``shipyard.text.Tokenizer`` makes them from words, and is
saved beside the network so that the served version takes raw strings.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.keras import keras  # Keras on the backend the model will be served on
from shipyard.text import Tokenizer

DATA = Path(__file__).with_name("data") / "headlines.csv"


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """The sentences, and 1 for positive, 0 for negative, from the file shipped here."""
    with DATA.open(newline="") as f:
        rows = list(csv.DictReader(f))
    texts = np.array([r["text"] for r in rows], dtype=object)
    return texts, np.array([int(r["label"] == "positive") for r in rows])


def build_network(params: dict[str, Any], words: int) -> Any:
    """A fresh, compiled LSTM over ``params["length"]`` token ids from ``words`` ids."""
    model = keras.Sequential(
        [
            keras.Input((int(params["length"]),), dtype="int32"),
            keras.layers.Embedding(words, int(params["embedding"]), mask_zero=True),
            keras.layers.LSTM(int(params["units"])),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(params["learning_rate"])),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


class SentimentLSTM:
    """Tokenizer and network, both learnt in ``fit``: what cross-validation builds per fold, so
    a fold's vocabulary comes from its own training sentences only."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.tokenizer: Tokenizer | None = None
        self.network: Any = None

    def fit(self, texts: Any, labels: Any, callbacks: list[Any] | None = None) -> SentimentLSTM:
        self.tokenizer = Tokenizer.fit(texts, length=int(self.params["length"]))
        self.network = build_network(self.params, self.tokenizer.size)
        self.network.fit(
            self.tokenizer.encode(texts),
            np.asarray(labels, dtype=np.float32),
            epochs=int(self.params["epochs"]),
            batch_size=int(self.params["batch_size"]),
            callbacks=callbacks or [],
            verbose=0,
        )
        return self

    def predict(self, texts: Any) -> Any:
        """The probability that each sentence is positive."""
        assert self.tokenizer is not None, "fit first"
        return self.network.predict(self.tokenizer.encode(texts), verbose=0)

    def get_weights(self) -> list[Any] | None:
        """The network's weights once fitted (validation checks no fold starts from another's)."""
        return None if self.network is None else self.network.get_weights()


def build_model(params: dict[str, Any]) -> SentimentLSTM:
    """An unfitted tokenizer-and-LSTM, for 5-fold cross-validation."""
    return SentimentLSTM(params)
