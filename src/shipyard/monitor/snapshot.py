"""One scrape of a deployment's ``/metrics`` as the rules read it, and what happened
between two scrapes.

Per version: the serving totals canary analysis reads (requests, 5xx, latency
buckets — ``deploy.analysis``), the live input counts per feature and reference
bin, the reference shares, and the feedback counts. The metrics computed from a
window are the same expressions as ``expressions/promql.py`` (a test holds both to it);
drift's (PSI, KS) are in ``drift.py``.
"""

from __future__ import annotations

from typing import Any

from shipyard.deploy import analysis
from shipyard.exposition import samples

Snapshot = dict[str, dict[str, Any]]  # version → totals

_INPUTS = "shipyard_input_bin_total"
_REFERENCE = "shipyard_input_reference_ratio"
_FEEDBACK = "shipyard_feedback_total"
_ABS_ERROR = "shipyard_feedback_absolute_error_total"
_BATCH = {"shipyard_batch_size_sum": "batch_rows", "shipyard_batch_size_count": "batches"}
SERIES = analysis.SERVING_SERIES | {_INPUTS, _REFERENCE, _FEEDBACK, _ABS_ERROR, *_BATCH}


def _empty() -> dict[str, Any]:
    extra = {"inputs": {}, "reference": {}, "feedback": {}, "mae": 0.0}
    return {**analysis.empty_entry(), **extra, "batch_rows": 0.0, "batches": 0.0}


def snapshot(metrics_text: str) -> Snapshot:
    """Per-version totals from a ``/metrics`` page."""
    out: Snapshot = {}
    for name, labels, value in samples(metrics_text, SERIES):
        version = labels.get("version", "")
        entry = out.get(version)
        if entry is None:
            entry = out[version] = _empty()
        if name in analysis.SERVING_SERIES:
            analysis.count(entry, name, labels, value)
        elif name in (_INPUTS, _REFERENCE):
            key = "inputs" if name == _INPUTS else "reference"
            entry[key].setdefault(labels.get("feature", ""), {})[labels.get("bin", "")] = value
        elif name == _FEEDBACK:
            outcome = labels.get("outcome", "")
            entry["feedback"][outcome] = entry["feedback"].get(outcome, 0.0) + value
        elif name in _BATCH:
            entry[_BATCH[name]] += value
        else:
            entry["mae"] += value
    return out


def _counters(entry: dict[str, Any]) -> list[tuple[str, float]]:
    return [
        *((f"{f}/{b}", n) for f, bins in entry["inputs"].items() for b, n in bins.items()),
        *entry["feedback"].items(),
        ("mae", entry["mae"]),
        ("batch_rows", entry["batch_rows"]),
        ("batches", entry["batches"]),
    ]


def between(before: Snapshot, now: Snapshot) -> Snapshot:
    """What happened between two snapshots (a version whose counters went down was
    restarted: it counts from zero); reference shares are the newest."""
    served = analysis.window(before, now)
    out: Snapshot = {}
    for version, entry in now.items():
        old = before.get(version) or _empty()
        previous = dict(_counters(old))
        if any(n < previous.get(k, 0.0) for k, n in _counters(entry)):
            old = _empty()
        out[version] = {
            **served[version],
            "inputs": {
                f: {b: n - old["inputs"].get(f, {}).get(b, 0.0) for b, n in bins.items()}
                for f, bins in entry["inputs"].items()
            },
            "reference": entry["reference"],
            "feedback": {o: n - old["feedback"].get(o, 0.0) for o, n in entry["feedback"].items()},
            "mae": entry["mae"] - old["mae"],
            "batch_rows": entry["batch_rows"] - old["batch_rows"],
            "batches": entry["batches"] - old["batches"],
        }
    return out


def live_accuracy(entry: dict[str, Any]) -> float | None:
    """Correct ÷ judged feedback, or None without any."""
    correct, wrong = entry["feedback"].get("correct", 0.0), entry["feedback"].get("wrong", 0.0)
    return correct / (correct + wrong) if correct + wrong > 0 else None


def live_mae(entry: dict[str, Any]) -> float | None:
    """Mean absolute error of scored feedback, or None without any."""
    scored = entry["feedback"].get("scored", 0.0)
    return entry["mae"] / scored if scored > 0 else None
