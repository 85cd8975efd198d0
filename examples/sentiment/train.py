"""Train the sentiment model on everything but the validation holdout; save it with skops."""

from __future__ import annotations

import json
from pathlib import Path

from model import build_model, load_data
from sklearn.metrics import accuracy_score

import shipyard


def main() -> None:
    params = shipyard.params()
    texts, labels = load_data()
    x_train, x_holdout, y_train, y_holdout = shipyard.holdout_split(texts, labels)
    model = build_model(params).fit(x_train, y_train)
    accuracy = float(accuracy_score(y_holdout, model.predict(x_holdout)))
    shipyard.save_model(model, "model.skops")
    Path("metrics.json").write_text(json.dumps({"accuracy": accuracy}, indent=2) + "\n")
    print(f"trained on {len(x_train)} sentences: holdout accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
