"""What every command shares: the state directory, output helpers, ``K=V`` parsing."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from shipyard import jsonio
from shipyard.errors import InvalidInputError
from shipyard.home import resolve_home, stores_for
from shipyard.store import Lineage, Stores


def _console(stderr: bool = False) -> Console:
    """Rich console; when output goes to a file or CI log, lines are not cut at 80 columns."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, highlight=False, width=width)


console = _console()
err_console = _console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")


@dataclass(slots=True)
class Settings:
    """Options given before the command name."""

    home: Path | None = None
    debug: bool = False


SETTINGS = Settings()


def home() -> Path:
    """The state directory this invocation uses."""
    return resolve_home(SETTINGS.home)


@contextmanager
def stores() -> Iterator[Stores]:
    """The stores under the state directory, closed when the command ends."""
    opened = stores_for(home())
    try:
        yield opened
    finally:
        opened.close()


def print_json(data: Any) -> None:
    """Write JSON to stdout, uncoloured, one document: indented on a terminal, compact
    in a pipe; records (dataclasses) are written as they are."""
    sys.stdout.write(jsonio.dumps(data, indent=sys.stdout.isatty()).decode() + "\n")


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``, with an error naming the bad one."""
    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"{option} {item!r} is not of the form KEY=VALUE", hint=f"e.g. {option} C=1.0"
            )
        pairs[key.strip()] = value.strip()
    return pairs


def parse_value(text: str) -> Any:
    """A parameter value as typed: JSON scalars (1, 1.5, true, null) or else a string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def parse_metrics(pairs: dict[str, str], option: str = "--metric") -> dict[str, float]:
    """Metric values must be numbers."""
    metrics: dict[str, float] = {}
    for key, text in pairs.items():
        try:
            metrics[key] = float(text)
        except ValueError:
            raise InvalidInputError(
                f"{option} {key}={text!r}: a metric must be a number",
                hint=f"e.g. {option} {key}=0.97",
            ) from None
    return metrics


def when(timestamp: str) -> str:
    """An ISO timestamp shortened for tables: ``2026-11-24 00:11:10``."""
    return timestamp[:19].replace("T", " ")


def short(digest: str | None, n: int = 12) -> str:
    """``sha256:abcdef…`` → ``abcdef123456``."""
    return "-" if not digest else digest.removeprefix("sha256:")[:n]


def describe_git(lineage: Lineage, commit_chars: int = 40) -> str:
    """``1a2b3c4 (main, dirty)``, or ``-`` outside git."""
    if lineage.git_commit is None:
        return "-"
    dirty = ", dirty" if lineage.git_dirty else ""
    return f"{lineage.git_commit[:commit_chars]} ({lineage.git_branch or 'detached'}{dirty})"


def format_metrics(metrics: dict[str, float]) -> str:
    """``accuracy=0.9711, f1=0.97`` (4 significant digits), or ``-``."""
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()) or "-"


def describe_split(weights: dict[str, int], shadow: dict[str, int]) -> str:
    """``v3 90%, v4 10%, v5 shadow 20%`` (versions at 0 % are left out)."""
    live = ", ".join(f"v{v} {w}%" for v, w in weights.items() if w)
    return (live or "nothing") + "".join(f", v{v} shadow {p}%" for v, p in shadow.items())


def new_table(*headers: str, title: str | None = None) -> Table:
    """A table whose columns keep short values on one line; the last column wraps."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=title, title_justify="left")
    for i, header in enumerate(headers):
        last = i == len(headers) - 1
        table.add_column(header, no_wrap=not last, overflow="fold" if last else "ellipsis")
    return table
