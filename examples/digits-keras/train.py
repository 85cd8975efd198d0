"""Train the MLP on everything but the validation holdout, epoch by epoch; save it as .keras."""

from __future__ import annotations

import json
from pathlib import Path

from model import build_model, load_data

import shipyard
import shipyard.keras
from shipyard.keras import keras


def main() -> None:
    params = shipyard.params()
    keras.utils.set_random_seed(int(params["seed"]))  # weights, dropout and shuffling
    images, labels = load_data()
    x_train, x_holdout, y_train, y_holdout = shipyard.holdout_split(images, labels)
    model = build_model(params)
    model.fit(
        x_train,
        y_train,
        epochs=int(params["epochs"]),
        batch_size=int(params["batch_size"]),
        callbacks=[shipyard.keras.MetricsCallback()],  # each epoch's loss and accuracy
        verbose=2,
    )
    _, accuracy = model.evaluate(x_holdout, y_holdout, verbose=0)
    shipyard.save_model(model, "model.keras")
    Path("metrics.json").write_text(json.dumps({"accuracy": float(accuracy)}, indent=2) + "\n")
    print(f"trained on {len(x_train)} images: holdout accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
