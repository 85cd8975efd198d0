"""The keras flavor on TensorFlow: a model trained, registered and served on Keras's
tensorflow backend answers as Keras itself predicts.

TensorFlow (tensorflow-cpu, 1.6 GB) lives in a venv of its own, made by
``scripts/tensorflow.sh`` outside the repository, with no other backend in it; every
step runs there, in a subprocess with ``KERAS_BACKEND=tensorflow``: a training script
saves a small model with ``shipyard.save_model`` and Keras's own predictions,
``shipyard register`` records it, ``shipyard serve`` serves it. Opt-in (``make
test-tensorflow``, or ``pytest -m tensorflow``); a venv that cannot be made is a
failure, never a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from container_helpers import ROOT, free_port

pytestmark = pytest.mark.tensorflow

TRAIN = """\
import json

import keras
import numpy as np

import shipyard

keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
)
model.compile(optimizer="adam", loss="mse")
x = np.random.default_rng(0).random((64, 4), dtype=np.float32)
model.fit(x, x[:, :3] * 2 - x[:, 1:], epochs=3, verbose=0)
shipyard.save_model(model, "model.keras")
asked = np.random.default_rng(1).random((5, 4), dtype=np.float32)
print(json.dumps({
    "backend": keras.backend.backend(),
    "variable": type(model.weights[0].value).__module__,
    "x": asked.tolist(),
    "y": np.asarray(model.predict_on_batch(asked)).tolist(),
}))
"""


@pytest.fixture(scope="module")
def tensorflow_python() -> Path:
    """The python of the TensorFlow venv (made once by scripts/tensorflow.sh, then cached)."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "tensorflow.sh")],
                          capture_output=True, text=True, timeout=1800, check=False)  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"scripts/tensorflow.sh failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def tf_env(tensorflow_python: Path, tmp_path: Path) -> dict[str, str]:
    """Shipyard's environment in the TensorFlow venv: its own home, Keras on tensorflow."""
    return {
        **os.environ,
        "PATH": f"{tensorflow_python.parent}:{os.environ.get('PATH', '')}",
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's start-up notices
        "SHIPYARD_HOME": str(tmp_path / "home"),
        "SHIPYARD_ACTOR": "tester",
    }


def run(env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def server(tf_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, dict[str, object]]]:
    """A model trained and registered on tensorflow, served by ``shipyard serve``; yields its
    URL and what training printed (Keras's own predictions among it)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(TRAIN)
    trained = json.loads(run(tf_env, work, "python", "train.py").strip().splitlines()[-1])
    run(tf_env, work, "shipyard", "register", "model.keras", "--name", "tiny-tf",
        "--alias", "candidate")  # fmt: skip
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(["shipyard", "serve", "tiny-tf@candidate", "--port", str(port)],
                            env=tf_env, cwd=work, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"shipyard serve not ready:\n{log.name}: "
                                     f"{Path(log.name).read_text()[-3000:]}")  # fmt: skip
            time.sleep(0.25)
        yield url, trained
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_the_tensorflow_venv_holds_no_other_keras_backend(tf_env: dict[str, str]) -> None:
    ask = "import importlib.util as u; print([m for m in ('tensorflow', 'torch', 'jax') if u.find_spec(m)])"  # noqa: E501
    assert run(tf_env, ROOT, "python", "-c", ask).strip() == "['tensorflow']"


def test_a_keras_model_trained_on_tensorflow_is_registered_and_served_as_keras_predicts(
    server: tuple[str, dict[str, object]],
) -> None:
    url, trained = server
    assert trained["backend"] == "tensorflow"
    assert str(trained["variable"]).startswith("tensorflow")  # its weights are tf.Variables
    metadata = httpx.get(f"{url}/v2/models/tiny-tf", timeout=10).json()
    # the signature register inferred by loading the file on tensorflow
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["outputs"] == [{"name": "output-0", "datatype": "FP32", "shape": [-1, 3]}]
    x = np.asarray(trained["x"], dtype=np.float32)
    body = {"inputs": [{"name": "input-0", "shape": list(x.shape), "datatype": "FP32",
                        "data": x.ravel().tolist()}]}  # fmt: skip
    answer = httpx.post(f"{url}/v2/models/tiny-tf/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    output = answer.json()["outputs"][0]
    assert output["shape"] == [5, 3]
    expected = np.asarray(trained["y"], dtype=np.float32)
    answered = np.asarray(output["data"], dtype=np.float32).reshape(5, 3)
    np.testing.assert_allclose(answered, expected, rtol=1e-6, atol=1e-7)
    assert np.abs(expected).max() > 0.01  # an answer of zeros would prove nothing
