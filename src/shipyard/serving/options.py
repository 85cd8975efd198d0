"""The serving options: one table of name, type, default, range and help.

``shipyard serve`` takes each as a flag (``max_batch_size`` is ``--max-batch-size``),
a deployment takes it in its options (``shipyard deploy``, ``POST
/api/v1/deployments``), checked against the same range before its server starts,
and the server's configuration (``config.py``) starts from the same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ServeOption:
    """One setting of a model server."""

    name: str
    type: type
    default: Any
    low: int | float | None  # numbers: the smallest value taken
    high: int | float | None  # numbers: the largest
    help: str

    @property
    def flag(self) -> str:
        """As ``shipyard serve`` takes it."""
        return f"--{self.name.replace('_', '-')}"


SERVE_OPTIONS: dict[str, ServeOption] = {
    option.name: option
    for option in (
        ServeOption(
            "max_concurrent", int, 64, 1, 10**9, "Requests a worker holds at once (then 503)."
        ),
        ServeOption(
            "max_body", int, 8 * 1024 * 1024, 1, 10**12, "Largest request body in bytes (413)."
        ),
        ServeOption("timeout", float, 30.0, 0.001, 1e6, "Seconds a prediction may take (408)."),
        ServeOption(
            "max_batch_size", int, 32, 1, 10**6, "Rows per adaptive batch (1: no batching)."
        ),
        ServeOption(
            "max_latency_ms", float, 20.0, 0.1, 1e6, "Latency budget batches are sized for."
        ),
        ServeOption(
            "max_queue", int, 256, 1, 10**9, "Requests that may wait for a batch (then 503)."
        ),
        ServeOption("threads", int, 4, 1, 256, "Inference threads per version."),
        ServeOption("trust", list, None, None, None, "Extra type a skops file may contain."),
        ServeOption(
            "trust_pickle",
            bool,
            False,
            None,
            None,
            "Allow formats that can run code when loaded (pickle, Keras Lambda layers).",
        ),
    )
}


def default(name: str) -> Any:
    """The option's default."""
    return SERVE_OPTIONS[name].default
