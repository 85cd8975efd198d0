"""``shipyard metrics``: a deployment's live numbers over a window, with sparklines."""

from __future__ import annotations

from typing import Any

import typer

from shipyard.cli.common import JSON_OPTION, console, home, new_table, print_json

BARS = "▁▂▃▄▅▆▇█"
LABELS = {
    "requests": ("requests/s", "{:.1f}"),
    "error_rate": ("error rate", "{:.2%}"),
    "p50_latency": ("p50 latency", "ms"),
    "p95_latency": ("p95 latency", "ms"),
    "p99_latency": ("p99 latency", "ms"),
    "batch_size": ("batch size (mean)", "{:.1f}"),
    "drift_psi": ("drift (worst PSI)", "{:.3f}"),
    "live_accuracy": ("live accuracy", "{:.2%}"),
    "live_mae": ("live MAE", "{:.4g}"),
}


def sparkline(points: list[float | None]) -> str:
    """Eight heights across the values; a gap where there was no data."""
    known = [p for p in points if p is not None]
    if not known:
        return " " * len(points)
    low, high = min(known), max(known)
    scale = (high - low) or 1.0
    return "".join(
        " " if p is None else BARS[min(7, int((p - low) / scale * 7.999))] for p in points
    )


def _shown(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    form = LABELS[metric][1]
    return f"{value * 1000:.1f} ms" if form == "ms" else form.format(value)


def metrics_cmd(
    name: str = typer.Argument(..., help="Deployment."),
    window: str = typer.Option("15m", help="Over how long: 1m, 15m, 1h (kept: the last hour)."),
    version: str | None = typer.Option(
        None, "--version", help="Only this version's numbers (default: every version's)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Requests/s, error rate, p50/p95/p99 latency, batch size, drift and live accuracy now,
    and across the window; the features that drifted most."""
    from shipyard.client.connection import connect  # the HTTP client: only when called

    query = {"window": window, "version": version}
    data: dict[str, Any] = connect(home()).call("GET", f"deployments/{name}/metrics", query=query)
    if as_json:
        print_json(data)
        return
    table = new_table("metric", f"over {window}", "trend")
    for metric, (label, _) in LABELS.items():
        table.add_row(
            label, _shown(metric, data["values"][metric]), sparkline(data["history"][metric])
        )
    console.print(table)
    drift = data.get("drift", {}).get("features", [])
    if drift:
        worst = new_table("version", "feature", "PSI", "KS")
        for f in drift:
            ks = "n/a" if f["ks"] is None else f"{f['ks']:.3f}"
            worst.add_row(f"v{f['version']}", f["feature"], f"{f['psi']:.3f}", ks)
        console.print(worst)
    note = f"{data['scrapes']} scrapes, every {data['interval']:g} s"
    if data["unavailable"]:
        note += f"; [red]metrics unavailable: {data['unavailable']}[/]"
    console.print(note)
