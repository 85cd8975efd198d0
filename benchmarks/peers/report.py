"""The printed tables of bench_serving.py, from the figures aggregated over rounds."""

from __future__ import annotations

from typing import Any

Figures = dict[str, float]
Summary = dict[str, dict[str, Figures]]  # section → label → aggregated figures
Rounds = dict[str, dict[str, list[Figures]]]  # section → label → figures of each round


def render(summary: Summary, rounds: Rounds, method: dict[str, Any]) -> str:
    """Every table, with the method in its headings."""
    m = method
    every = f"{m['aggregate']} of {m['rounds']} rounds, order rotated each round"
    load = (
        f"{m['workers']} workers each, wrk -t{m['wrk_threads']} -c{m['connections']}, "
        f"single-row requests, {m['measure_s']:g} s after a {m['warmup_s']:g} s warm-up"
    )
    return "\n".join(
        [
            f"Case 1: digits, logistic regression; {load}; {every}",
            *digits_table(summary["digits"], rounds["digits"]),
            "",
            f"Case 2: random forest, {m['forest_trees']} trees; Shipyard with the same load; raw "
            f"predict {m['raw_s']:g} s per figure, processes started together; {every}",
            *forest_table(summary["forest"], m["batches"]),
            "",
            f"Cold start and hot swap, digits; {every}",
            *cold_table(summary["cold start"]),
            "",
            "Goals (issue: speed where users feel it)",
            *goals_table(summary),
        ]
    )


def digits_table(rows: dict[str, Figures], rounds: dict[str, list[Figures]]) -> list[str]:
    """Case 1: each server's req/s and its ratio to Shipyard's, latencies, errors, start."""
    base = rows["Shipyard"]
    lines = [
        f"  {'server':<30} {'req/s':>7} {'x Shipyard':>10} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p50 x':>6} {'errors':>6}  {'start s':>7}  req/s in each round"
    ]
    for label, r in rows.items():
        if "rps" not in r:
            continue
        lines.append(
            f"  {label:<30} {r['rps']:>7,.0f} {r['rps'] / base['rps']:>10.2f} "
            f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['p50_ms'] / base['p50_ms']:>6.2f} "
            f"{r['non_2xx'] + r['socket_errors']:>6,.0f}  {r['start_s']:>7.1f}  "
            + " ".join(f"{x['rps']:,.0f}" for x in rounds[label])
        )
    raw = rows["raw predict, 1 row"]["rows_per_s"]
    return [
        *lines,
        f"  raw predict in-process, 1 row per call, 1 thread: {raw:,.0f} calls/s "
        f"(Shipyard answers {base['rps'] / raw:.0%} of that)",
        f"  Shipyard / ceiling: {base['rps'] / rows['ceiling']['rps']:.0%} (goal ≥ 70%)",
        f"  lower bound / ceiling: {rows['lower bound']['rps'] / rows['ceiling']['rps']:.0%}, "
        f"Shipyard / lower bound: {base['rps'] / rows['lower bound']['rps']:.0%} (the lower "
        "bound: parse, one predict per loop turn on the loop, encode; nothing else)",
        "  errors: non-2xx answers and socket errors (connect, read, write, timeout), all rounds",
    ]


def forest_table(rows: dict[str, Figures], batches: tuple[int, ...]) -> list[str]:
    """Case 2: Shipyard's rows/s against raw batched predict in 2 processes."""
    lines = [
        f"  {'server':<30} {'rows/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'rows/call':>9}  share of raw batched predict, 2 processes (goal ≥ 80%)"
    ]
    for label, batch in (("Shipyard", 32), ("Shipyard --max-batch-size 64", 64)):
        r, raw = rows[label], rows[f"raw predict, {batch} rows, 2 proc"]["rows_per_s"]
        lines.append(
            f"  {label:<30} {r['rps']:>7,.0f} {r['p50_ms']:>7.0f} {r['p99_ms']:>7.0f} "
            f"{r['non_2xx'] + r['socket_errors']:>6,.0f} {r.get('mean_batch', 0.0):>9.2f}  "
            f"{r['rps'] / raw:.1%} of {raw:,.0f} rows/s (batches of {batch})"
        )
    for size in (1, *batches):
        rates = [
            f"{rows[label]['rows_per_s']:,.0f} rows/s in {n} process{'es' if n > 1 else ''}"
            for n in (1, 2)
            if (label := f"raw predict, {size} rows, {n} proc") in rows
        ]
        lines.append(
            f"  raw predict, {size:>2} row{'s' if size > 1 else ''} per call: " + ", ".join(rates)
        )
    lines.append("  rows/call: rows per model call in Shipyard's workers (its /metrics)")
    return lines


def cold_table(rows: dict[str, Figures]) -> list[str]:
    """Start to ready for ``shipyard serve``, against the import-and-load floor."""
    floor = rows["floor without torch"]["seconds"]
    lines = [
        "  floor: fresh `python -c 'import sklearn.linear_model, skops.io; skops.io.load(…)'`"
        f" {rows['floor']['seconds']:>6.2f} s  (skops' import brings torch)",
        f"  floor without torch (skops imported as Shipyard does)                 {floor:>6.2f} s",
    ]
    for workers in ("1 worker", "2 workers"):
        seconds = rows[f"shipyard serve, {workers}"]["seconds"]
        lines.append(
            f"  shipyard serve, {workers:<9}: start → first 200 from /v2/health/ready "
            f"{seconds:>6.2f} s  ({seconds - floor:+.2f} s above the floor without torch)"
        )
    swap = rows["hot swap, 2 workers"]["seconds"]
    lines.append(f"  hot swap, 2 workers: load v2, route to it → v2's first answer {swap:>6.2f} s")
    return lines


def goals_table(summary: Summary) -> list[str]:
    """Each goal beside its figure and whether it is met."""
    digits, forest, cold = summary["digits"], summary["forest"], summary["cold start"]
    ship, ceiling = digits["Shipyard"], digits["ceiling"]
    floor = cold["floor without torch"]["seconds"]
    rows: list[tuple[str, str, str, bool]] = [
        ("digits req/s, share of the ceiling", f"{ship['rps'] / ceiling['rps']:.0%}", "≥ 70%",
         ship["rps"] >= 0.7 * ceiling["rps"]),
        ("  the least possible Python server, share of the ceiling",
         f"{digits['lower bound']['rps'] / ceiling['rps']:.0%}", "≥ 70%",
         digits["lower bound"]["rps"] >= 0.7 * ceiling["rps"]),
        ("digits p99 over the ceiling's p99", f"{ship['p99_ms'] - ceiling['p99_ms']:+.1f} ms",
         "≤ +5 ms", ship["p99_ms"] <= ceiling["p99_ms"] + 5),
    ]  # fmt: skip
    for label, batch in (("Shipyard", 32), ("Shipyard --max-batch-size 64", 64)):
        raw = forest[f"raw predict, {batch} rows, 2 proc"]["rows_per_s"]
        share = forest[label]["rps"] / raw
        rows.append((f"forest rows/s, share of raw predict at {batch}, 2 proc", f"{share:.0%}",
                     "≥ 80%", share >= 0.8))  # fmt: skip
    for workers in ("1 worker", "2 workers"):
        above = cold[f"shipyard serve, {workers}"]["seconds"] - floor
        rows.append((f"cold start, {workers}, above the torch-free floor", f"{above:+.2f} s",
                     "≤ +0.30 s", above <= 0.3))  # fmt: skip
    swap = cold["hot swap, 2 workers"]["seconds"]
    rows.append(("hot swap to v2's first answer", f"{swap:.2f} s", "≤ 0.30 s", swap <= 0.3))
    return [
        f"  {goal:<52} {got:>9}  goal {want:<9} {'met' if met else 'NOT met'}"
        for goal, got, want, met in rows
    ]
