"""Train the digits model: fit, score on a holdout split, save with skops, write metrics."""

from __future__ import annotations

import json
from pathlib import Path

import skops.io
from model import build_model, load_data
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import shipyard


def main() -> None:
    params = shipyard.params()
    features, labels = load_data()
    x_train, x_test, y_train, y_test = train_test_split(
        features,
        labels,
        test_size=float(params["test_size"]),
        random_state=int(params["seed"]),
        stratify=labels,
    )
    model = build_model(params).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
    }
    skops.io.dump(model, "model.skops")
    Path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"trained on {len(x_train)} images: "
        + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
    )


if __name__ == "__main__":
    main()
