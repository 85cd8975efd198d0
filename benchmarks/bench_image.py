"""Image benchmark: `shipyard image build` of the digits model with podman.

Measures, as a user runs the command (whole `shipyard` process): a cold build
(empty storage, base image present), a rebuild after a model-only change (a new
version trained from the same code), and a rebuild of the same version; the
image's size; and whether rebuilding a version after removing its image gives
the same model layer. Podman runs with a configuration and storage of its own,
on Debian's Python base image (``scripts/test-base-image.sh``), as in the tests.

    make bench-image     # or: .venv/bin/python benchmarks/bench_image.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' podman set-up and digits project

from container_helpers import (  # noqa: E402
    BASE_IMAGE,
    SHIPYARD,
    Containers,
    digits_project,
    register_digits,
    start_containers,
)


def timed_build(containers: Containers, ref: str) -> float:
    t0 = time.perf_counter()
    containers.run(SHIPYARD, "image", "build", ref, "--base-image", BASE_IMAGE, timeout=1800)
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-image-") as scratch:
        tmp = Path(scratch)
        containers = start_containers(tmp / "containers", tmp / "home")
        try:
            project = digits_project(tmp / "digits")
            register_digits(containers, project, 0.1)
            cold = timed_build(containers, "digits:1")
            register_digits(containers, project, 0.2)
            model_only = timed_build(containers, "digits:2")
            same = timed_build(containers, "digits:2")
            image = containers.inspect("shipyard/digits:1")
            base = containers.inspect(BASE_IMAGE)
            first, second = (containers.layers(f"shipyard/digits:{n}") for n in (1, 2))
            shared = sum(a == b for a, b in zip(first, second, strict=True))
            containers.run("podman", "rmi", "shipyard/digits:1")
            again = timed_build(containers, "digits:1")
            rebuilt = containers.layers("shipyard/digits:1")
            history = json.loads(
                containers.run("podman", "history", "--format", "json", "shipyard/digits:1")
            )
            model_layer = next(h["size"] for h in history if "COPY" in h.get("CreatedBy", ""))
            venv = next(h["size"] for h in history if "-m venv" in h.get("CreatedBy", ""))
        finally:
            containers.cleanup()
    mb = 1_000_000
    rows = [
        ("image size (base included)", f"{image['Size'] / mb:.0f} MB"),
        ("of which the base image", f"{base['Size'] / mb:.0f} MB"),
        ("of which the pinned dependencies (one layer)", f"{venv / mb:.0f} MB"),
        ("the model layer (model, manifest, Dockerfile)", f"{model_layer / 1000:.0f} kB"),
        ("cold build (empty cache, base image present)", f"{cold:.1f} s"),
        ("rebuild after a model-only change (new version)", f"{model_only:.1f} s"),
        ("rebuild of the same version", f"{same:.1f} s"),
        ("rebuild of a version after removing its image", f"{again:.1f} s"),
        ("layers shared by two versions of one code", f"{shared} of {len(first)}"),
        ("same model layer when a version is rebuilt", "yes" if rebuilt[-1] == first[-1] else "NO"),
        ("same layers, all of them, when rebuilt", "yes" if rebuilt == first else "NO"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
