"""Train the LSTM on everything but the validation holdout; save the network and its tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

from model import SentimentLSTM, load_data

import shipyard
import shipyard.keras
from shipyard.keras import keras


def main() -> None:
    params = shipyard.params()
    keras.utils.set_random_seed(int(params["seed"]))
    texts, labels = load_data()
    x_train, x_holdout, y_train, y_holdout = shipyard.holdout_split(texts, labels)
    model = SentimentLSTM(params).fit(x_train, y_train, [shipyard.keras.MetricsCallback()])
    assert model.tokenizer is not None
    accuracy = float(((model.predict(x_holdout)[:, 0] > 0.5) == y_holdout).mean())
    # the served version: the network, and beside it the tokenizer that turns strings into ids
    shipyard.save_model(model.network, "model/model.keras")
    model.tokenizer.save("model/tokenizer.json")
    Path("metrics.json").write_text(json.dumps({"accuracy": accuracy}, indent=2) + "\n")
    print(
        f"trained on {len(x_train)} sentences, {len(model.tokenizer.vocabulary)} words: "
        f"holdout accuracy {accuracy:.4f}"
    )


if __name__ == "__main__":
    main()
