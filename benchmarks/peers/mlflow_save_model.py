"""MLflow peer for bench_serving.py: save the benchmark's model as an MLflow model directory.

Runs in MLflow's venv (benchmarks/.venvs/mlflow):
``python mlflow_save_model.py MODEL.skops OUT_DIR [TRUSTED_TYPE ...]``. It loads the
same skops file that Shipyard serves and saves it the way an MLflow user does,
``mlflow.sklearn.save_model`` (skops format, MLflow 3's default) with a signature
inferred from one row, which ``mlflow models serve`` then serves.
"""

from __future__ import annotations

import sys

import mlflow.sklearn
import numpy as np
import skops.io
from mlflow.models import infer_signature


def main() -> None:
    source, out, *trusted = sys.argv[1:]
    model = skops.io.load(source, trusted=trusted)
    example = np.zeros((1, int(model.n_features_in_)))
    mlflow.sklearn.save_model(
        model,
        out,
        signature=infer_signature(example, model.predict(example)),
        skops_trusted_types=trusted or None,
    )


if __name__ == "__main__":
    main()
