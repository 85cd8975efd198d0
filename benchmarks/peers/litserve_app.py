"""LitServe peer for bench_serving.py: the benchmark's model behind LitServe 0.2, 2 workers.

Runs in its own venv (benchmarks/.venvs/litserve) as ``python litserve_app.py``.
On CPU, ``workers_per_device=2`` gives 2 inference worker processes; LitServe adds
as many HTTP server processes (its default, ``num_api_servers=None``), which pass
requests to the workers over a multiprocessing queue (its default: ``fast_queue``,
ZeroMQ, which its docs suggest above 100 requests/s, stalled with timeouts here and
left workers spinning after shutdown). The model is the same skops file that Shipyard
serves: ``$BENCH_MODEL``, with ``$BENCH_TRUST`` the comma-separated types skops may
load beyond its defaults. ``$BENCH_MAX_BATCH`` above 1 turns on LitServe's
batching. Requests are LitServe's idiom, ``{"input": [...64 floats]}`` →
``{"output": class}``; access logs are off, as for every server in the benchmark.
"""

from __future__ import annotations

import os
from typing import Any

import litserve as ls
import numpy as np
import skops.io


class DigitsAPI(ls.LitAPI):
    """One row in, its predicted class out; rows are stacked into batches when batching."""

    def setup(self, device: str) -> None:
        trusted = [t for t in os.environ.get("BENCH_TRUST", "").split(",") if t]
        self.model = skops.io.load(os.environ["BENCH_MODEL"], trusted=trusted)

    # LitServe builds the endpoint from these two annotations; left out, they mean plain JSON.
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return np.asarray(request["input"], dtype=np.float64)

    def predict(self, x: np.ndarray) -> Any:
        classes = self.model.predict(np.atleast_2d(x))
        return classes if x.ndim == 2 else classes[0]  # a batch, or a single row

    def encode_response(self, output: Any):  # type: ignore[no-untyped-def]
        return {"output": int(output)}


def main() -> None:
    batch = int(os.environ.get("BENCH_MAX_BATCH", "1"))
    api = DigitsAPI(max_batch_size=batch, batch_timeout=0.005 if batch > 1 else 0.0)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=2)
    server.run(
        host="127.0.0.1",
        port=int(os.environ["BENCH_PORT"]),
        log_level="warning",
        generate_client_file=False,
        access_log=False,
    )


if __name__ == "__main__":
    main()
