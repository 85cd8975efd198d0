"""The validation report: a markdown summary beside the plots the worker drew."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.expressions.quality_gates import Verdict


def draw_plots(result: dict[str, Any], directory: Path) -> None:
    """``confusion.png`` (holdout) and ``comparison.png`` (candidate vs champion)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    if "confusion" in result:
        ax.imshow(result["confusion"], cmap="Blues")
        classes = result["classes"]
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        for i, row in enumerate(result["confusion"]):
            for j, count in enumerate(row):
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    ax.set_title("holdout confusion matrix")
    fig.tight_layout()
    fig.savefig(directory / "confusion.png", dpi=100)
    plt.close(fig)

    candidate = {
        k: v for k, v in result["candidate"].items() if k not in ("size_mb", "latency_p95_ms")
    }
    champion = (result.get("champion") or {}).get("metrics", {})
    names = list(candidate)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.5))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [candidate[n] for n in names], width=0.4, label="candidate")
    if champion:
        ax.bar(
            [x + 0.2 for x in xs],
            [champion.get(n, 0) for n in names],
            width=0.4,
            label=f"champion v{result['champion']['version']}",
        )
    ax.set_xticks(list(xs), names)
    ax.set_ylim(0, 1.05 if all(0 <= candidate[n] <= 1 for n in names) else None)
    ax.set_title("holdout metrics")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(directory / "comparison.png", dpi=100)
    plt.close(fig)


def markdown(result: dict[str, Any], verdicts: list[Verdict], run_id: str) -> str:
    """The report a reviewer reads: gates, holdout scores against the champion, CV."""
    passed = all(v.passed for v in verdicts)
    lines = [f"# Validation of run {run_id}: {'passed' if passed else 'FAILED'}", ""]
    if verdicts:
        lines += ["| gate | required | got | verdict |", "|---|---|---|---|"]
        for v in verdicts:
            got = "-" if v.got is None else f"{v.got:.4g}"
            verdict = ("pass" if v.passed else "**FAIL**") + (f" ({v.note})" if v.note else "")
            lines.append(f"| `{v.gate}` | {v.required} | {got} | {verdict} |")
        lines.append("")
    champion = result.get("champion")
    header = "| metric | candidate |" + (f" champion v{champion['version']} |" if champion else "")
    lines += [
        f"## Holdout ({result['holdout_rows']} of {result['rows']} rows)",
        "",
        header,
        "|---|---|" + ("---|" if champion else ""),
    ]
    for name, value in result["candidate"].items():
        row = f"| {name} | {value:.4g} |"
        if champion:
            other = champion["metrics"].get(name)
            row += " - |" if other is None else f" {other:.4g} |"
        lines.append(row)
    cv = result.get("cv") or {}
    if cv:
        lines += [
            "",
            f"## {len(next(iter(cv['metrics'].values()))['folds'])}-fold cross-validation "
            f"({cv['processes']} processes, {cv['seconds']:.2f} s)",
            "",
            "| metric | mean | std |",
            "|---|---|---|",
        ]
        for name, stats in cv["metrics"].items():
            lines.append(f"| {name} | {stats['mean']:.4f} | {stats['std']:.4f} |")
    lines += ["", "![confusion matrix](confusion.png) ![metrics](comparison.png)", ""]
    return "\n".join(lines)
