"""`shipyard image build` of a Keras version: the image carries Keras and its backend.

A Keras 3 bundle pins Keras, which depends on no backend; the image gets the one
Keras runs on here (torch, PyTorch's CPU build, whose ``+cpu`` wheel no package index
has) and ``KERAS_BACKEND`` set to it. One module-wide build serves the container
tests: a tiny Dense net trained on torch is registered by the pipeline, built with
the command as a user types it, run by podman (``container_helpers``: no Docker
engine here), and asked for predictions that must equal the ones made in process.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version as installed
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import committed_project
from container_helpers import (
    BASE_IMAGE,
    SHIPYARD,
    Containers,
    commit_all,
    free_port,
    start_containers,
)
from shipyard.errors import ShipyardError
from shipyard.images.dependencies import WHEELS, fetch_local_wheels, local_builds
from shipyard.images.model_dockerfile import DOCKERFILE, SERVE_COMMAND
from shipyard.pipeline.packaging import flavor_packages
from shipyard.registry.checkout import load_version
from shipyard.store import open_stores

IMAGE = "shipyard/tiny-keras:{version}"
# Building the image installs torch into it (a 1.1 GB layer, about two minutes here): the
# container tests run in `make test-slow`; the bundle and context tests below run always.
SLOW = pytest.mark.slow
TORCH = installed("torch")  # 2.13.0+cpu here: a local build, not on PyPI

SPEC = """\
model:
  name: tiny-keras
  flavor: keras
  path: model.keras
train:
  command: python train.py
  params:
    seed: {seed}
register:
  alias: candidate
"""
TRAIN = """\
import keras
import numpy as np

import shipyard

keras.utils.set_random_seed(int(shipyard.params()["seed"]))
model = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
)
model.compile(optimizer="adam", loss="mse")
x = np.random.default_rng(0).random((64, 4), dtype=np.float32)
model.fit(x, x[:, :3] * 2 - x[:, 1:], epochs=2, verbose=0)
shipyard.save_model(model, "model.keras")
"""


@dataclass
class KerasImage:
    """The module's build: v1 of the tiny net, its project and how long the build took."""

    containers: Containers
    home: Path
    project: Path
    seconds: float

    def register(self, seed: int) -> None:
        """Train and register a version from a new commit, its weights seeded by ``seed``."""
        (self.project / "shipyard.yaml").write_text(SPEC.format(seed=seed))
        commit_all(self.project, f"seed={seed}")
        proc = subprocess.run([SHIPYARD, "run"], cwd=self.project, env=self.containers.env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def build(self, number: int) -> str:
        ref = f"tiny-keras:{number}"
        return self.containers.run(SHIPYARD, "image", "build", ref, "--base-image", BASE_IMAGE)


@pytest.fixture(scope="module")
def keras_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KerasImage]:
    tmp = tmp_path_factory.mktemp("keras-image")
    containers = start_containers(tmp / "containers", tmp / "home")
    containers.env["KERAS_BACKEND"] = "torch"  # train, register and build on torch
    try:
        files = {"train.py": TRAIN, ".gitignore": "model.keras\nmetrics.json\n.shipyard/\n"}
        project = committed_project(tmp / "tiny", files)
        built = KerasImage(containers, tmp / "home", project, 0.0)
        built.register(seed=1)
        start = time.monotonic()
        built.build(1)
        built.seconds = time.monotonic() - start
        yield built
    finally:
        containers.cleanup()


@pytest.fixture(scope="module")
def served(keras_image: KerasImage) -> Iterator[str]:
    """v1's image serving on the host's network, as ``shipyard serve`` in it; yields its URL."""
    containers, port, name = keras_image.containers, free_port(), "keras-served"
    containers.run(
        "podman", "run", "--detach", "--name", name, "--network", "host",
        IMAGE.format(version=1),
        *SERVE_COMMAND[:3], "--host", "127.0.0.1", "--port", str(port),
    )  # fmt: skip
    try:
        containers.wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", name)
        yield f"http://127.0.0.1:{port}"
    finally:
        containers.run("podman", "rm", "--force", name, check=False)


@SLOW
def test_the_keras_image_serves_the_predictions_the_model_makes_in_process(
    keras_image: KerasImage, served: str
) -> None:
    x = np.random.default_rng(7).random((5, 4), dtype=np.float32)
    body = {"inputs": [{"name": "input-0", "shape": [5, 4], "datatype": "FP32",
                        "data": x.ravel().tolist()}]}  # fmt: skip
    answer = httpx.post(f"{served}/v2/models/tiny-keras/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    output = answer.json()["outputs"][0]
    assert answer.json()["model_version"] == "1"
    assert output["shape"] == [5, 3]
    stores = open_stores(keras_image.home)
    try:
        expected = load_version(stores, stores.metadata.get_version("tiny-keras", 1)).predict(x)
    finally:
        stores.close()
    answered = np.asarray(output["data"], dtype=np.float32).reshape(5, 3)
    np.testing.assert_allclose(answered, expected, rtol=1e-6, atol=1e-7)
    assert np.abs(expected).max() > 0.01  # an answer of zeros would prove nothing


@SLOW
def test_the_keras_image_carries_keras_on_the_cpu_torch_it_was_built_with(
    keras_image: KerasImage, served: str
) -> None:
    containers, image = keras_image.containers, IMAGE.format(version=1)
    assert "KERAS_BACKEND=torch" in containers.inspect(image)["Config"]["Env"]
    ask = (
        "import importlib.metadata as m, importlib.util as u, json, pathlib, keras, torch\n"
        "print(json.dumps({'backend': keras.backend.backend(), 'keras': keras.__version__,"
        " 'torch': torch.__version__, 'cuda': torch.version.cuda,"
        " 'tensorflow': u.find_spec('tensorflow') is not None,"
        " 'nvidia': sorted(d.metadata['Name'] for d in m.distributions()"
        "                  if d.metadata['Name'].startswith('nvidia')),"
        " 'wheels': [str(p) for p in pathlib.Path('/').glob('tmp/**/*.whl')]}))\n"
    )
    found = json.loads(containers.run("podman", "exec", "keras-served", "python", "-c", ask))
    assert found == {
        "backend": "torch",
        "keras": installed("keras"),
        "torch": TORCH,  # the version trained with, its CPU build
        "cuda": None,
        "tensorflow": False,
        "nvidia": [],
        "wheels": [],  # the torch wheel was read through a mount, not copied into a layer
    }


@SLOW
def test_a_new_keras_model_on_the_same_code_reuses_the_dependencies_layer(
    keras_image: KerasImage,
) -> None:
    containers = keras_image.containers
    keras_image.register(seed=2)
    start = time.monotonic()
    out = keras_image.build(2)
    rebuild = time.monotonic() - start
    first = containers.layers(IMAGE.format(version=1))
    second = containers.layers(IMAGE.format(version=2))
    # the base's layers, then requirements.txt and the installed pins (Keras, torch: 1 GB)
    dependencies = len(containers.layers(BASE_IMAGE)) + 2
    assert first[:dependencies] == second[:dependencies]
    assert first[-1] != second[-1]  # the model's own layer
    install = out.index("--mount=type=bind,source=dependencies")
    assert out[install:].split("\n", 2)[1].startswith("--> Using cache")  # no pip install again
    assert rebuild < keras_image.seconds  # the first build installed torch; this one did not


# --- the bundle and the context, without containers ------------------------------------


def test_a_keras_bundle_pins_the_backend_it_runs_on_and_names_it_in_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    packages, environment = flavor_packages("keras")
    assert packages == ["keras", "numpy", "torch"] and environment == {"KERAS_BACKEND": "torch"}
    assert flavor_packages("sklearn")[1] == {}
    dockerfile = DOCKERFILE.format(name="m", flavor="keras", base_image=BASE_IMAGE, commit="",
                                   model_digest="", command=json.dumps(SERVE_COMMAND),
                                   environment=" \\\n    KERAS_BACKEND=torch")  # fmt: skip
    assert "PYTHONPATH=/opt/shipyard:/srv/bundle/code \\\n    KERAS_BACKEND=torch\n" in dockerfile
    assert f"RUN --mount=type=bind,source={WHEELS},target=/tmp/{WHEELS}" in dockerfile


def test_a_keras_backend_not_installed_here_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # not installed in the test environment
    with pytest.raises(ShipyardError) as refused:
        flavor_packages("keras")
    assert "(jax)" in refused.value.message and "jax is not installed" in refused.value.message
    assert "KERAS_BACKEND" in (refused.value.hint or "")


def test_the_context_brings_the_wheels_of_local_builds_no_index_has(tmp_path: Path) -> None:
    pins = [f"torch=={TORCH}", f"numpy=={installed('numpy')}"]
    assert fetch_local_wheels(pins, tmp_path / WHEELS) == [f"torch=={TORCH}"]
    wheels = [p.name for p in (tmp_path / WHEELS).iterdir()]
    assert len(wheels) == 1 and wheels[0].startswith(f"torch-{TORCH}-")
    assert fetch_local_wheels(pins[1:], tmp_path / "none") == []
    assert (tmp_path / "none").is_dir()  # the Dockerfile mounts it: always there


def test_only_pins_with_a_local_version_label_are_local_builds() -> None:
    pins = ["torch==2.13.0+cpu", "numpy==2.4.6", "jaxlib==0.4.30+cuda12.cudnn89", "keras"]
    assert local_builds(pins) == ["torch==2.13.0+cpu", "jaxlib==0.4.30+cuda12.cudnn89"]
