"""Drift of a version's live inputs from its reference: the population stability index
(PSI) and the Kolmogorov-Smirnov statistic per feature.

Both compare a window's live counts per reference bin (the model server counts them:
``serving/input_bins.py``) with the reference's shares (``reference_summary.py``), in a
scrape's terms (``snapshot.py``), and are the same expressions as the PromQL of
``expressions/promql.py`` (a test holds both to it). A feature with fewer than
``DRIFT_MIN_ROWS`` live rows in the window has no value: too noisy to call drift.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from shipyard.expressions.promql import DRIFT_MIN_ROWS, PSI_FLOOR


def _judged(
    entry: dict[str, Any],
) -> Iterator[tuple[str, dict[str, float], dict[str, float], float]]:
    """Features with a reference and enough live rows: (feature, bins, reference, rows)."""
    for feature, bins in entry["inputs"].items():
        reference = entry["reference"].get(feature)
        rows = sum(bins.values())
        if reference and rows >= DRIFT_MIN_ROWS:
            yield feature, bins, reference, rows


def psi(entry: dict[str, Any]) -> dict[str, float]:
    """The population stability index per feature with at least ``DRIFT_MIN_ROWS`` rows."""
    out: dict[str, float] = {}
    for feature, bins, reference, rows in _judged(entry):
        total = 0.0
        for b, ref in reference.items():
            live = bins.get(b, 0.0) / rows
            total += (live - ref) * math.log(max(live, PSI_FLOOR) / max(ref, PSI_FLOOR))
        out[feature] = total
    return out


def ks(entry: dict[str, Any]) -> dict[str, float]:
    """The Kolmogorov-Smirnov statistic per feature, at the reference's bin edges: the
    largest gap between the live and the reference cumulative shares."""
    out: dict[str, float] = {}
    for feature, bins, reference, rows in _judged(entry):
        live_cdf = ref_cdf = gap = 0.0
        for b in sorted(reference, key=int):
            live_cdf += bins.get(b, 0.0) / rows
            ref_cdf += reference[b]
            gap = max(gap, abs(live_cdf - ref_cdf))
        out[feature] = gap
    return out
