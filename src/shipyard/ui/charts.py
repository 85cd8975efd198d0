"""Live charts drawn on the server: a deployment's numbers over a window (the scraper's
``summary``, as ``shipyard metrics`` prints it) as small SVG lines inside the page — no
chart library, no script; the page's panel, fetched again every few seconds, brings
them up to date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

WINDOW_S = 900.0  # the charts' window: the last 15 minutes
WIDTH, HEIGHT = 200, 40


@dataclass(frozen=True, slots=True)
class Chart:
    """One metric: its name, its value over the whole window, and its line."""

    title: str
    value: str
    line: Markup


# metric, title, how its value reads
CHARTS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("requests", "Requests/s", lambda v: f"{v:.1f}"),
    ("error_rate", "Error rate", lambda v: f"{v * 100:.2f} %"),
    ("p50_latency", "p50 latency", lambda v: f"{v * 1000:.1f} ms"),
    ("p95_latency", "p95 latency", lambda v: f"{v * 1000:.1f} ms"),
    ("p99_latency", "p99 latency", lambda v: f"{v * 1000:.1f} ms"),
    ("batch_size", "Rows per batch", lambda v: f"{v:.1f}"),
    ("drift_psi", "Drift (worst PSI)", lambda v: f"{v:.3f}"),
    ("live_accuracy", "Live accuracy", lambda v: f"{v * 100:.1f} %"),
)


def charts(summary: dict[str, Any]) -> list[Chart]:
    """The charts of a ``Scraper.summary``."""
    values, history = summary["values"], summary["history"]
    shown = []
    for metric, title, reads in CHARTS:
        value = values.get(metric)
        shown.append(
            Chart(
                title, "—" if value is None else reads(value), line(history.get(metric, []), title)
            )
        )
    return shown


def line(points: list[float | None], title: str) -> Markup:
    """``points`` (None: no data there) as an SVG polyline scaled to its largest value;
    only numbers this function formats go into the markup, and the title is escaped."""
    numbers = [p for p in points if p is not None]
    if len(points) < 2 or not numbers:
        return Markup('<span class="none">no data yet</span>')
    top = max(numbers) or 1.0
    step = WIDTH / (len(points) - 1)
    runs: list[list[str]] = [[]]
    for i, point in enumerate(points):
        if point is None:
            if runs[-1]:
                runs.append([])
            continue
        y = HEIGHT - 2 - (HEIGHT - 4) * (point / top)
        runs[-1].append(f"{i * step:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline points="{" ".join(run)}"/>' if len(run) > 1 else _dot(run[0])
        for run in runs
        if run
    )
    label = escape(f"{title} over the last {WINDOW_S / 60:g} minutes")
    return Markup(
        f'<svg class="spark" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">'
        f"{lines}</svg>"
    )


def _dot(point: str) -> str:
    x, y = point.split(",")
    return f'<circle cx="{x}" cy="{y}" r="2"/>'
