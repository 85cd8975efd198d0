"""A steady load on a deployment, counting answers per version and every failure.

    python load.py http://127.0.0.1:8000 --clients 4 --out load.json

Runs until SIGTERM or Ctrl-C, then writes its counts to ``--out`` (and prints them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from sklearn.datasets import load_digits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--model", default="digits")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--out", default="load.json")
    args = parser.parse_args()
    target = urlsplit(args.url)
    rows = load_digits().data.tolist()  # all 1,797 images: live inputs like the reference
    versions: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        n = offset
        while not stop.is_set():
            row = rows[n % len(rows)]
            n += 1
            tensor = {"name": "input-0", "shape": [1, 64], "datatype": "FP32", "data": row}
            body = {"inputs": [tensor]}
            try:
                connection.request("POST", f"/v2/models/{args.model}/infer", json.dumps(body))
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as err:
                with lock:
                    failures[type(err).__name__] += 1
                connection.close()
                time.sleep(0.05)
                continue
            with lock:
                if response.status == 200:
                    versions[f"v{json.loads(data)['model_version']}"] += 1
                else:
                    failures[f"HTTP {response.status}"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    try:
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        stop.set()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    total = sum(versions.values()) + sum(failures.values())
    summary = {
        "seconds": round(seconds, 1),
        "requests": total,
        "per_second": round(total / seconds),
        "answered_by": dict(sorted(versions.items())),
        "failed": sum(failures.values()),
        "failures": dict(failures),
    }
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
