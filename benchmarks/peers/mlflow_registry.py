"""MLflow's model registry doing the same work as bench_registry.py, for a side-by-side run.

Runs in its own virtual environment (MLflow is never a Shipyard dependency) and
prints one JSON object of timings in seconds. Per version it does what a user of
MLflow does to get an equivalent registered version: a run with params and
metrics, the model file logged as an artifact, and a model version created from
it. Backend: SQLite and a local artifact directory, MLflow's embedded default.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
from mlflow import MlflowClient


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, required=True)
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        # Artifacts in the temporary directory too (the default is ./mlruns in the cwd).
        MlflowClient().create_experiment("bench", artifact_location=f"file://{tmp}/artifacts")
        mlflow.set_experiment("bench")
        client = MlflowClient()
        client.create_registered_model("digits")
        model = Path(tmp) / "model.skops"
        register_times = []
        for i in range(args.versions):
            model.write_bytes(f"model weights #{i} ".encode() * 64)
            t0 = time.perf_counter()
            with mlflow.start_run() as run:
                mlflow.log_params({"C": 1.0})
                mlflow.log_metrics({"accuracy": 0.9 + (i % 100) / 1000})
                mlflow.log_artifact(str(model), "model")
                client.create_model_version(
                    "digits", f"{run.info.artifact_uri}/model", run_id=run.info.run_id
                )
            register_times.append(time.perf_counter() - t0)
        client.set_registered_model_alias("digits", "production", str(args.versions // 2))

        list_times = []
        for _ in range(3):
            t0 = time.perf_counter()
            found = client.search_model_versions("name='digits'", max_results=args.versions)
            json.dumps([dict(v) for v in found], default=str)
            list_times.append(time.perf_counter() - t0)
        assert len(found) == args.versions

        alias_times = []
        for _ in range(200):
            t0 = time.perf_counter()
            client.get_model_version_by_alias("digits", "production")
            alias_times.append(time.perf_counter() - t0)

    print(
        json.dumps(
            {
                "tool": f"MLflow {mlflow.__version__}",
                "register": register_times,
                "list": statistics.median(list_times),
                "alias": alias_times,
            }
        )
    )


if __name__ == "__main__":
    main()
