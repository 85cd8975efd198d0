"""Concurrent writers: separate processes registering at once keep versions unique and gapless."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

from shipyard.registry import RegisterOptions, register
from shipyard.store import open_stores

WORKERS = 4
PER_WORKER = 40


def _register_many(home: str, workdir: str, worker: int) -> list[int]:
    """One process: register PER_WORKER distinct files, as fast as it can."""
    stores = open_stores(Path(home))
    numbers = []
    try:
        for i in range(PER_WORKER):
            path = Path(workdir) / f"w{worker}-{i}.skops"
            path.write_bytes(f"model from worker {worker}, round {i}".encode())
            options = RegisterOptions(flavor="sklearn", infer_signature=False, actor=f"w{worker}")
            numbers.append(register(stores, path, "digits", options).version.version)
    finally:
        stores.close()
    return numbers


def _register_same(home: str, path: str) -> tuple[int, bool]:
    stores = open_stores(Path(home))
    try:
        options = RegisterOptions(flavor="sklearn", infer_signature=False)
        result = register(stores, Path(path), "digits", options)
        return result.version.version, result.created
    finally:
        stores.close()


def test_concurrent_processes_get_unique_gapless_version_numbers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WORKERS) as pool:
        results = pool.starmap(
            _register_many, [(str(home), str(tmp_path), w) for w in range(WORKERS)]
        )
    numbers = sorted(n for worker in results for n in worker)
    assert numbers == list(range(1, WORKERS * PER_WORKER + 1))
    stores = open_stores(home)
    versions = stores.metadata.list_versions("digits")
    assert [v.version for v in versions] == list(range(1, WORKERS * PER_WORKER + 1))
    assert len({v.content_digest for v in versions}) == WORKERS * PER_WORKER
    registered = [e for e in stores.metadata.list_events() if e.kind == "model.version.registered"]
    assert sorted(e.version or 0 for e in registered) == numbers
    for v in versions:  # every version row points at intact bytes
        for artifact in v.artifacts:
            stores.artifacts.verify(artifact.digest)
    stores.close()


def test_concurrent_registration_of_identical_content_makes_one_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    model = tmp_path / "model.skops"
    model.write_bytes(b"one model registered by many at once")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WORKERS) as pool:
        results = pool.starmap(_register_same, [(str(home), str(model))] * (WORKERS * 2))
    assert {number for number, _ in results} == {1}
    assert sum(created for _, created in results) == 1


def test_two_cli_processes_registering_at_once_both_succeed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shipyard = Path(sys.executable).parent / "shipyard"
    procs = []
    for i in range(6):
        path = tmp_path / f"m{i}.skops"
        path.write_bytes(f"cli model {i}".encode())
        procs.append(
            subprocess.Popen(
                [
                    str(shipyard),
                    "--home",
                    str(home),
                    "register",
                    str(path),
                    "--name",
                    "digits",
                    "--no-infer-signature",
                    "--metric",
                    f"accuracy=0.9{i}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outputs
    stores = open_stores(home)
    assert [v.version for v in stores.metadata.list_versions("digits")] == [1, 2, 3, 4, 5, 6]
    stores.close()
