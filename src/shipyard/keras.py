"""Keras in a Shipyard run: per-epoch metrics on the run, and Keras picked a backend.

``import shipyard.keras`` imports Keras on the backend the keras flavor serves with
(``KERAS_BACKEND``, else the first installed of tensorflow, torch and jax), so a model
trains on the backend it will be served on.

    model.fit(x, y, epochs=5, callbacks=[shipyard.keras.MetricsCallback()])

records each epoch's ``loss``, ``accuracy`` (and ``val_…``) as a step of the run's
history (``shipyard runs show``), and the last epoch's as the run's ``train.…`` metrics.
"""

from __future__ import annotations

from typing import Any

from shipyard.flavors.keras import _keras
from shipyard.tracking import log_metrics

keras = _keras()
_Callback: Any = keras.callbacks.Callback


class MetricsCallback(_Callback):  # type: ignore[misc]  # keras is untyped
    """Log every epoch's metrics to the run, as step ``epoch + 1``."""

    def __init__(self, prefix: str = "train.") -> None:
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Keras calls this after each epoch with the epoch's metrics."""
        values = {f"{self.prefix}{k}": float(v) for k, v in (logs or {}).items()}
        if values:
            log_metrics(values, step=epoch + 1)
