"""PyTorch models saved with ``torch.export.save`` (``.pt2``): graph and weights, no user code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.flavors.base import Predictor, TrustPolicy, single_file
from shipyard.signature import Signature, TensorSpec, datatype_from_numpy


def _spec(name: str, value: Any) -> TensorSpec:
    dtype = str(value.dtype).removeprefix("torch.")
    shape = tuple(d if isinstance(d, int) else -1 for d in value.shape)
    return TensorSpec(name, datatype_from_numpy(dtype), shape)


class TorchPredictor:
    """An exported program called under ``torch.inference_mode``."""

    def __init__(self, path: Path) -> None:
        import torch

        self._torch = torch
        self.program = torch.export.load(path)
        self.module = self.program.module()

    def predict(self, inputs: Any) -> Any:
        """Run one batch; inputs become a float32 tensor unless they already are a tensor."""
        torch = self._torch
        batch = (
            inputs
            if isinstance(inputs, torch.Tensor)
            else torch.as_tensor(inputs, dtype=torch.float32)
        )
        with torch.inference_mode():
            return self.module(batch).numpy()


class PytorchFlavor:
    """Adapter for ``torch.export`` programs."""

    name = "pytorch"

    def detect(self, path: Path) -> str | None:
        """A ``.pt2`` file."""
        return single_file(path, (".pt2",))

    def load(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Predictor:
        """Load the exported program."""
        return TorchPredictor(root / entrypoint)

    def signature(self, root: Path, entrypoint: str, trust: TrustPolicy) -> Signature | None:
        """Inputs and outputs from the graph's placeholder and output nodes."""
        program = TorchPredictor(root / entrypoint).program
        user_inputs = set(program.graph_signature.user_inputs)
        inputs: list[TensorSpec] = []
        outputs: list[TensorSpec] = []
        for node in program.graph.nodes:
            if node.op == "placeholder" and node.name in user_inputs:
                inputs.append(_spec(node.name, node.meta["val"]))
            elif node.op == "output":
                for i, out in enumerate(node.args[0]):
                    outputs.append(_spec(f"output-{i}", out.meta["val"]))
        return Signature(tuple(inputs), tuple(outputs))


FLAVOR = PytorchFlavor()
