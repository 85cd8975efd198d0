"""Web UI benchmark: how long `shipyard server` takes to render its pages over a big registry.

Method. A home with one model of 10,000 versions (each with metrics, params and git
lineage, added through the metadata store as `register` adds them) and 100,000 events
in the audit log, then a real `shipyard server` on it. A signed-in client on loopback
asks for each page 30 times after 3 warm-ups: the models page, a model's versions page
(the first and the last of its pages), the events page (the newest, and a page far back),
and a run-less deployment-less home's other pages are not measured. Time is from request
to the last byte, on the same machine (so it includes loopback HTTP, which is small).
Also: what the browser downloads for the first page — HTML and stylesheet — as sent and
gzip-compressed. Printed, and written to benchmarks/results/ui.json.

    make bench    (or: .venv/bin/python benchmarks/bench_ui.py --versions 2000 --events 20000)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from shipyard.store import Lineage, VersionDraft, open_stores

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "ui.json"
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
ROUNDS, WARMUP = 30, 3


def fill(home: Path, versions: int, events: int) -> float:
    """The big registry: ``versions`` versions of ``big`` and ``events`` more events."""
    started = time.perf_counter()
    stores = open_stores(home)
    try:
        for number in range(versions):
            digest = hashlib.sha256(str(number).encode()).hexdigest()
            stores.metadata.add_version(
                "big",
                VersionDraft(
                    flavor="sklearn",
                    content_digest=f"sha256:{digest}",
                    artifacts=(),
                    lineage=Lineage(python="3.11", git_commit=digest[:40], git_branch="main"),
                    created_by="bench",
                    metrics={"accuracy": 0.9 + number / versions / 20, "f1_macro": 0.93},
                    params={"C": 0.1, "max_iter": 1000},
                ),
            )
        for number in range(max(0, events - versions)):  # each version added one already
            stores.metadata.append_event(
                "bench.note", "bench", model="big", version=1 + number % versions,
                data={"deployment": "big", "reason": f"note {number}"},
            )  # fmt: skip
    finally:
        stores.close()
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(client: httpx.Client, path: str) -> dict[str, float]:
    for _ in range(WARMUP):
        assert client.get(path).status_code == 200, path
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, path
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1],
        "bytes": float(len(answer.content)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        took = fill(home, args.versions, args.events)
        print(f"filled: {args.versions:,} versions, {args.events:,} events in {took:.1f} s")
        port = free_port()
        env = {**os.environ, "SHIPYARD_HOME": str(home)}
        server = subprocess.Popen([SHIPYARD, "server", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            results = run_against(home, f"http://127.0.0.1:{port}", args.versions)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"Results: {RESULTS.relative_to(HERE.parent)}")


def run_against(home: Path, base: str, versions: int) -> dict[str, object]:
    deadline = time.monotonic() + 60
    state = home / "run" / "server.json"
    while not state.exists() or "token" not in state.read_text():
        if time.monotonic() > deadline:
            raise SystemExit("shipyard server did not start")
        time.sleep(0.1)
    token = json.loads(state.read_text())["token"]
    with httpx.Client(base_url=base, timeout=60) as client:
        while True:
            try:
                client.get("/signin")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        signed = client.post("/signin", data={"token": token, "next": "/"})
        assert signed.status_code == 303, signed.text
        last_page = -(-versions // 50)
        oldest = client.get("/events").text
        newest_id = int(re.search(r"<td>(\d+)</td>", oldest).group(1))  # type: ignore[union-attr]
        pages = {
            "models": "/",
            "a model's versions, page 1": "/models/big",
            f"a model's versions, page {last_page}": f"/models/big?page={last_page}",
            "events, newest 100": "/events",
            "events, 100 from far back": f"/events?before={newest_id // 10}",
            "events of one deployment and kind": "/events?deployment=big&kind=bench.note",
        }
        figures = {name: measure(client, path) for name, path in pages.items()}
        html = client.get("/").content
        css = client.get("/static/shipyard.css").content
    first = {
        "html_bytes": len(html),
        "css_bytes": len(css),
        "sent_gzip_bytes": len(gzip.compress(html)) + len(gzip.compress(css)),
    }
    print(f"\nWeb UI, {versions:,} versions of one model; {ROUNDS} requests a page, signed in")
    print(f"  {'page':40} {'median ms':>10} {'p95 ms':>8} {'kB':>8}")
    for name, f in figures.items():
        print(f"  {name:40} {f['median_ms']:10.1f} {f['p95_ms']:8.1f} {f['bytes'] / 1000:8.1f}")
    print(
        f"  first page download: HTML {first['html_bytes'] / 1000:.1f} kB + CSS "
        f"{first['css_bytes'] / 1000:.1f} kB, {first['sent_gzip_bytes'] / 1000:.1f} kB gzipped "
        "(no script on it)"
    )
    return {"pages": figures, "first_page": first, "versions": versions}


if __name__ == "__main__":
    main()
