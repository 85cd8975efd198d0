"""Flavors with real model libraries: save, register, describe, load back from the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from shipyard.errors import IntegrityError, InvalidInputError, UntrustedModelError
from shipyard.flavors import TrustPolicy
from shipyard.registry import RegisterOptions, register
from shipyard.registry.checkout import checkout, load_version, verify_version
from shipyard.store import ModelVersion, Stores


@pytest.fixture(scope="module")
def digits_data() -> tuple[Any, Any]:
    features, labels = load_digits(return_X_y=True)
    return features.astype(np.float32), labels


@pytest.fixture(scope="module")
def logistic(digits_data: tuple[Any, Any]) -> LogisticRegression:
    features, labels = digits_data
    return LogisticRegression(max_iter=300).fit(features, labels)


def test_sklearn_skops_roundtrip_predicts_like_the_original(
    stores: Stores, tmp_path: Path, logistic: LogisticRegression, digits_data: tuple[Any, Any]
) -> None:
    import skops.io

    path = tmp_path / "model.skops"
    skops.io.dump(logistic, path)
    v = register(stores, path, "digits", RegisterOptions()).version
    assert v.flavor == "sklearn"
    sig = v.signature
    assert sig is not None
    assert (sig.inputs[0].datatype, sig.inputs[0].shape) == ("FP32", (-1, 64))
    assert (sig.outputs[0].datatype, sig.outputs[0].shape) == ("INT64", (-1,))
    loaded = load_version(stores, v)
    features = digits_data[0][:50]
    assert (loaded.predict(features) == logistic.predict(features)).all()


# What a fresh process imported and which scikit-learn types skops trusts once it can read
# skops files: through the flavor (loading one) or by importing skops as it comes.
_TRUSTED_AFTER = """
import json, sys
{setup}
from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES
trusted = sorted(SKLEARN_ESTIMATOR_TYPE_NAMES)
print(json.dumps({{"torch": "torch" in sys.modules, "trusted": trusted}}))
"""


def test_loading_a_skops_file_imports_no_torch_and_trusts_what_skops_trusts(
    tmp_path: Path, logistic: LogisticRegression
) -> None:
    import skops.io

    skops.io.dump(logistic, tmp_path / "model.skops")
    load = (
        "from pathlib import Path\n"
        "from shipyard.flavors import TrustPolicy, get_flavor\n"
        f"get_flavor('sklearn').load(Path({str(tmp_path)!r}), 'model.skops', TrustPolicy())"
    )
    seen = {}
    for name, setup in (("flavor", load), ("plain", "import skops.io")):
        done = subprocess.run(
            [sys.executable, "-c", _TRUSTED_AFTER.format(setup=setup)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        seen[name] = json.loads(done.stdout)
    assert seen["plain"]["torch"], "torch is installed: skops' own import pulls it in"
    assert not seen["flavor"]["torch"]
    assert seen["flavor"]["trusted"] == seen["plain"]["trusted"]
    assert len(seen["flavor"]["trusted"]) > 100


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_skops_file_with_untrusted_types_is_refused_until_trusted(
    stores: Stores, tmp_path: Path, digits_data: tuple[Any, Any]
) -> None:
    import skops.io

    features, labels = digits_data
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20).fit(features, labels)
    path = tmp_path / "mlp.skops"
    skops.io.dump(mlp, path)
    result = register(stores, path, "mlp", RegisterOptions())
    assert result.version.signature is None
    assert "AdamOptimizer" in result.warnings[0]
    with pytest.raises(UntrustedModelError, match="AdamOptimizer") as err:
        load_version(stores, result.version)
    assert "--trust sklearn.neural_network" in (err.value.hint or "")
    trusted = TrustPolicy(types=("sklearn.neural_network._stochastic_optimizers.AdamOptimizer",))
    loaded = load_version(stores, result.version, trusted)
    assert (loaded.predict(features[:20]) == mlp.predict(features[:20])).all()


def test_pickle_needs_explicit_trust(
    stores: Stores, tmp_path: Path, logistic: LogisticRegression
) -> None:
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(logistic, path)
    v = register(stores, path, "pickled", RegisterOptions(infer_signature=False)).version
    with pytest.raises(UntrustedModelError, match="pickle-based"):
        load_version(stores, v)
    assert load_version(stores, v, TrustPolicy(pickle=True)).predict(np.zeros((1, 64))).shape == (
        1,
    )


def test_onnx_model_signature_and_predictions(
    stores: Stores, tmp_path: Path, logistic: LogisticRegression, digits_data: tuple[Any, Any]
) -> None:
    from skl2onnx import to_onnx

    features = digits_data[0]
    onx = to_onnx(logistic, features[:1], options={"zipmap": False})
    path = tmp_path / "digits.onnx"
    path.write_bytes(onx.SerializeToString())
    v = register(stores, path, "digits-onnx", RegisterOptions()).version
    assert v.flavor == "onnx"
    sig = v.signature
    assert sig is not None
    assert (sig.inputs[0].datatype, sig.inputs[0].shape[1:]) == ("FP32", (64,))
    assert sig.outputs[0].datatype == "INT64"
    predicted = load_version(stores, v).predict(features[:30])
    assert (predicted == logistic.predict(features[:30])).all()


def test_pytorch_exported_program_signature_and_predictions(stores: Stores, tmp_path: Path) -> None:
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(64, 10)).eval()
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (torch.randn(4, 64),), dynamic_shapes=({0: batch},))
    path = tmp_path / "net.pt2"
    torch.export.save(program, path)
    v = register(stores, path, "net", RegisterOptions()).version
    assert v.flavor == "pytorch"
    sig = v.signature
    assert sig is not None
    assert (sig.inputs[0].datatype, sig.inputs[0].shape) == ("FP32", (-1, 64))
    assert (sig.outputs[0].datatype, sig.outputs[0].shape) == ("FP32", (-1, 10))
    x = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    expected = net(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(load_version(stores, v).predict(x), expected, rtol=1e-5)


def test_keras_model_signature_and_predictions(stores: Stores, tmp_path: Path) -> None:
    from shipyard.flavors.keras import _keras

    keras = _keras()  # torch here: the first backend installed
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10)]
    )
    path = tmp_path / "net.keras"
    model.save(path)
    v = register(stores, path, "net-keras", RegisterOptions()).version
    assert v.flavor == "keras"
    sig = v.signature
    assert sig is not None
    assert (sig.inputs[0].datatype, sig.inputs[0].shape) == ("FP32", (-1, 64))
    assert (sig.outputs[0].datatype, sig.outputs[0].shape) == ("FP32", (-1, 10))
    x = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    expected = np.asarray(model.predict_on_batch(x))
    np.testing.assert_allclose(load_version(stores, v).predict(x), expected, rtol=1e-5)


def test_keras_lambda_layers_need_trust(stores: Stores, tmp_path: Path) -> None:
    from shipyard.flavors.keras import _keras

    keras = _keras()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t * 2)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    v = register(stores, path, "lambda-keras", RegisterOptions()).version
    with pytest.raises(UntrustedModelError, match="holds a Lambda layer") as refused:
        load_version(stores, v).predict(np.ones((1, 2), dtype=np.float32))
    assert refused.value.hint is not None and "--trust-pickle" in refused.value.hint
    loaded = load_version(stores, v, TrustPolicy(pickle=True))
    assert loaded.predict(np.ones((1, 2), dtype=np.float32)).tolist() == [[2.0, 2.0]]


CUSTOM_MODEL = """
from pathlib import Path
from helpers import scale

class Doubler:
    signature = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, 2]}],
                 "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1, 2]}]}

    def load(self, path: Path) -> None:
        self.factor = float((path / "factor.txt").read_text())

    def predict(self, inputs):
        return [[scale(v, self.factor) for v in row] for row in inputs]
"""


def test_custom_class_loads_from_the_versions_own_files(stores: Stores, tmp_path: Path) -> None:
    bundle = tmp_path / "custom"
    bundle.mkdir()
    (bundle / "model.py").write_text(CUSTOM_MODEL)
    (bundle / "helpers.py").write_text("def scale(v, f):\n    return v * f\n")
    (bundle / "factor.txt").write_text("2")
    options = RegisterOptions(flavor="custom", entrypoint="model:Doubler")
    v = register(stores, bundle, "doubler", options).version
    assert v.signature is not None
    assert v.signature.inputs[0].name == "x"
    (bundle / "factor.txt").write_text("100")  # the registered version must not see later edits
    assert load_version(stores, v).predict([[1.0, 2.0]]) == [[2.0, 4.0]]


def test_custom_flavor_needs_a_module_class_entrypoint(stores: Stores, tmp_path: Path) -> None:
    bundle = tmp_path / "custom"
    bundle.mkdir()
    (bundle / "model.py").write_text("class M: pass\n")
    with pytest.raises(InvalidInputError, match="--entrypoint"):
        register(stores, bundle, "m", RegisterOptions(flavor="custom"))
    v = register(
        stores, bundle, "m", RegisterOptions(flavor="custom", entrypoint="model:M")
    ).version
    with pytest.raises(InvalidInputError, match="no load\\(\\) method"):
        load_version(stores, v)


def _stored_path(stores: Stores, digest: str) -> Path:
    hexd = digest.removeprefix("sha256:")
    return stores.home / "artifacts" / "sha256" / hexd[:2] / hexd[2:]


@pytest.fixture
def registered(stores: Stores, tmp_path: Path, logistic: LogisticRegression) -> ModelVersion:
    """The logistic model saved with skops and registered as digits v1."""
    import skops.io

    path = tmp_path / "model.skops"
    skops.io.dump(logistic, path)
    return register(stores, path, "digits", RegisterOptions(infer_signature=False)).version


def test_tampered_artifact_is_refused_and_nothing_loads(
    stores: Stores, registered: ModelVersion
) -> None:
    v = registered
    blob = _stored_path(stores, v.artifacts[0].digest)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    assert [p.path for p in verify_version(stores, v)] == ["model.skops"]
    with pytest.raises(IntegrityError, match="corrupt"):
        load_version(stores, v)
    assert not (stores.home / "checkouts").exists() or not any(
        (stores.home / "checkouts").iterdir()
    )


def test_tampered_checkout_is_detected_before_loading(
    stores: Stores, registered: ModelVersion
) -> None:
    v = registered
    root = checkout(stores, v)
    (root / "model.skops").chmod(0o644)
    (root / "model.skops").write_bytes(b"swapped")
    with pytest.raises(IntegrityError, match="no longer matches"):
        load_version(stores, v)


def _custom_version(stores: Stores, root: Path, helper_value: int) -> ModelVersion:
    root.mkdir()
    (root / "model.py").write_text(
        "from helpers import VALUE\n\n"
        "class M:\n"
        "    def load(self, path):\n        pass\n\n"
        "    def predict(self, inputs):\n        return [VALUE for _ in inputs]\n"
    )
    (root / "helpers.py").write_text(f"VALUE = {helper_value}\n")
    options = RegisterOptions(flavor="custom", entrypoint="model:M")
    return register(stores, root, "side", options).version


def test_two_versions_of_a_custom_model_load_side_by_side(stores: Stores, tmp_path: Path) -> None:
    first = load_version(stores, _custom_version(stores, tmp_path / "a", 1))
    second = load_version(stores, _custom_version(stores, tmp_path / "b", 2))
    assert (first.predict([0]), second.predict([0])) == ([1], [2])


def test_a_file_slipped_into_a_checkout_is_refused_before_any_code_runs(
    stores: Stores, tmp_path: Path
) -> None:
    version = _custom_version(stores, tmp_path / "a", 1)
    root = checkout(stores, version)
    (root / "colorsys.py").write_text("raise SystemExit('injected code ran')\n")
    with pytest.raises(IntegrityError, match=r"not part of the version: colorsys\.py"):
        load_version(stores, version)


def test_loading_a_custom_model_leaves_its_checkout_exactly_as_registered(
    stores: Stores, tmp_path: Path
) -> None:
    version = _custom_version(stores, tmp_path / "a", 1)
    load_version(stores, version)
    load_version(stores, version)  # a second load re-verifies the checkout: no __pycache__
    root = checkout(stores, version)
    assert sorted(p.name for p in root.rglob("*")) == ["helpers.py", "model.py"]
