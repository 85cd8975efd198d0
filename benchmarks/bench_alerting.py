"""Monitoring benchmark: how fast an alert rolls a failing model back, and what the
evaluator costs.

Goals (Monitoring issue):
- from the first failed request of a newly deployed, failing version to the completed
  automatic rollback, with `for: 0s` and a 1 s scrape: ≤ 5 s (a real control plane,
  real model servers, a steady load; several rounds);
- evaluator cost with 100 rules over 20 deployments: CPU time per evaluation cycle
  (the control plane's real Alerting over a real store, series filled with scrapes of
  pages shaped like a digits server's: latency buckets and 64 features x 10 input bins).

    make bench-alerting    # or: .venv/bin/python benchmarks/bench_alerting.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' control-plane and load helpers

from deploy_helpers import ControlPlane, Load, echo_home, free_port, register_echo  # noqa: E402
from shipyard.monitor.actions import Actions  # noqa: E402
from shipyard.monitor.alerting import Alerting  # noqa: E402
from shipyard.monitor.evaluate import Series  # noqa: E402
from shipyard.monitor.scraper import Scraper  # noqa: E402
from shipyard.monitor.snapshot import snapshot  # noqa: E402
from shipyard.store import open_stores  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "alerting.json"
FAILING = "raise RuntimeError('bad weights')"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def rollback_rounds(rounds: int) -> list[dict[str, float]]:
    """Each round deploys a failing version under load; the alert rolls it back."""
    with tempfile.TemporaryDirectory() as tmp:
        cp = ControlPlane(echo_home(Path(tmp)), free_port(), scrape_interval=1.0)
        cp.start()
        out = []
        try:
            port = free_port()
            cp.api("POST", "deployments", {"model": "echo", "version": 1, "port": port})
            cp.wait_for(lambda s: s["stable"] == 1 and s["in_sync"])
            rule = {
                "name": "HighErrorRate",
                "when": "error_rate > 0.05",
                "window": "10s",
                "for": "0s",
                "actions": ["rollback"],
            }
            monitor = {"alerts": [rule], "cooldown": "0s"}
            cp.api("PUT", "deployments/echo/monitor", {"monitor": monitor})
            for n in range(rounds):
                bad = register_echo(cp.home, Path(tmp), 100.0 + n, "pass", predict=FAILING)
                with Load(port, clients=2) as load:
                    load.wait(200)
                    seen = len(cp.events("deployment.rolled_back"))
                    cp.api("POST", "deployments", {"model": "echo", "version": bad})
                    while not load.failures:
                        time.sleep(0.001)
                    first_failure = time.time()
                    deadline = time.monotonic() + 60
                    while len(cp.events("deployment.rolled_back")) == seen:
                        assert time.monotonic() < deadline, "no automatic rollback"
                        time.sleep(0.05)
                    rolled = cp.events("deployment.rolled_back")[-1]
                    done = _epoch(rolled["at"])
                    failed = len(load.failures)
                out.append({"seconds": done - first_failure, "failed_requests": failed})
                print(
                    f"  round {n + 1}: rolled back {done - first_failure:.2f} s after the first "
                    f"failure ({failed} answers of the failing version until then)"
                )
                cp.wait_for(lambda s: s["stable"] == 1 and s["in_sync"])
                time.sleep(11)  # the window forgets the errors: the alert resolves
        finally:
            cp.cleanup()
    return out


def _page(version: str, requests: int) -> str:
    labels = f'deployment="d",model="m",version="{version}"'
    lines = [
        f'shipyard_requests_total{{{labels},protocol="v2",code="200"}} {requests}',
        f'shipyard_requests_total{{{labels},protocol="v2",code="500"}} {requests // 100}',
    ]
    for i, le in enumerate(("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "+Inf")):
        count = requests * (i + 1) // 7
        lines.append(
            f'shipyard_request_duration_seconds_bucket{{{labels},protocol="v2",le="{le}"}} {count}'
        )
    for f in range(64):
        for b in range(10):
            ref = f'{labels},feature="{f}",bin="{b}"'
            lines.append(f"shipyard_input_bin_total{{{ref}}} {requests * (b + 1) // 55}")
            lines.append(f"shipyard_input_reference_ratio{{{ref}}} 0.1")
    lines.append(f'shipyard_feedback_total{{{labels},outcome="correct"}} {requests // 2}')
    lines.append(f'shipyard_feedback_total{{{labels},outcome="wrong"}} {requests // 20}')
    return "\n".join(lines) + "\n"


def evaluator_cost(deployments: int, rules_each: int, cycles: int) -> dict[str, float]:
    """CPU per evaluation cycle of the real evaluator, and per scrape parse."""
    whens = ["error_rate > 0.02", "p99_latency > 250ms", "drift_psi > 0.2",
             "live_accuracy < 0.9", "requests < 1"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        stores = open_stores(Path(tmp))
        scraper = Scraper(stores, None, interval=1.0)  # type: ignore[arg-type]  # no scraping
        alerting = Alerting(stores, scraper, Actions(stores, None))  # type: ignore[arg-type]
        now = time.time()
        parse: list[float] = []
        for d in range(deployments):
            name = f"d{d}"
            rules = [
                {"name": f"R{i}", "when": whens[i % len(whens)], "window": 300,
                 "actions": ["notify"]}
                for i in range(rules_each)
            ]  # fmt: skip
            stores.alerts.set_monitor(name, {"rules": rules, "channels": []}, "bench")
            series = scraper.series[name] = Series(keep=3600)
            taken = snapshot(_page("1", 1000))
            for t in range(3600):  # an hour of 1 s scrapes, thinned as in the server
                if t % 60 == 0 or t >= 3480:  # parse the pages a window's ends can land on
                    started = time.process_time()
                    taken = snapshot(_page("1", 1000 + t * 50))
                    parse.append(time.process_time() - started)
                series.add(now - 3600 + t, taken)
        alerting.evaluate(now)  # the first cycle stores the transitions
        costs = []
        for _ in range(cycles):
            started = time.process_time()
            alerting.evaluate(now)
            costs.append(time.process_time() - started)
        stores.close()
    return {
        "deployments": deployments,
        "rules": deployments * rules_each,
        "cpu_ms_per_cycle_median": statistics.median(costs) * 1000,
        "cpu_ms_per_cycle_max": max(costs) * 1000,
        "parse_ms_per_scrape_median": statistics.median(parse) * 1000,
        "snapshots_kept_per_deployment": len(next(iter(scraper.series.values())).points),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("evaluator cost, 100 rules over 20 deployments:")
    cost = evaluator_cost(20, 5, 20)
    print(f"  {cost['cpu_ms_per_cycle_median']:.1f} ms CPU per cycle (median), "
          f"{cost['cpu_ms_per_cycle_max']:.1f} ms max; a scrape parse "
          f"{cost['parse_ms_per_scrape_median']:.2f} ms; "
          f"{cost['snapshots_kept_per_deployment']} snapshots kept per deployment")  # fmt: skip
    print(f"automatic rollback, for: 0s, 1 s scrape, {args.rounds} rounds:")
    rounds = rollback_rounds(args.rounds)
    seconds = [r["seconds"] for r in rounds]
    result: dict[str, Any] = {
        "rollback_seconds_median": statistics.median(seconds),
        "rollback_seconds_max": max(seconds),
        "rounds": rounds,
        "evaluator": cost,
    }
    verdict = "met" if max(seconds) <= 5 else "NOT met"
    print(f"  median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s "
          f"(goal ≤ 5 s: {verdict})")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
