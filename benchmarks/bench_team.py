"""Team-mode benchmark: the registry in-process on SQLite, in-process on PostgreSQL, and
through a team server's API, side by side in one run.

1. register one version (median, p95): SQLite in-process, PostgreSQL in-process, API
   (server on PostgreSQL and a local artifact directory);
2. `shipyard models versions --json` with 10,000 versions: local CLI on SQLite, and the
   CLI against the server (wall time, median of 3);
3. a 200 MB artifact uploaded through the API against a plain local copy (fsynced);
4. two agents registering 100 versions each at once through the API: time, and whether
   the numbers are 1..200 without gaps.

Figures are printed, not asserted. PostgreSQL and the server are started here on
127.0.0.1 with the test suite's helpers (tests/ is put on sys.path for them).

    make bench-team
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the suite's PostgreSQL and server helpers

from postgres_helpers import start_postgres  # noqa: E402
from shipyard import __version__  # noqa: E402
from shipyard.client.remote_stores import remote_stores  # noqa: E402
from shipyard.client.rest import ServerClient  # noqa: E402
from shipyard.registry import RegisterOptions, register  # noqa: E402
from shipyard.store import Lineage, Stores, VersionDraft, open_stores  # noqa: E402
from team_helpers import TeamServer  # noqa: E402

SHIPYARD = str(Path(sys.executable).parent / "shipyard")
OPTIONS = RegisterOptions(flavor="custom", entrypoint="model:M", infer_signature=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def model_dir(root: Path, n: int) -> Path:
    source = root / f"m{n}"
    source.mkdir(parents=True)
    (source / "model.py").write_text(f"class M:\n    value = {n}\n")
    return source


def time_registrations(stores: Stores, root: Path, count: int, model: str) -> list[float]:
    times = []
    for n in range(count):
        source = model_dir(root, n)
        start = time.perf_counter()
        register(stores, source, model, OPTIONS)
        times.append(time.perf_counter() - start)
    return times


def fill(stores: Stores, model: str, count: int) -> None:
    """``count`` versions of ``model`` recorded directly (no files): listing's workload."""
    for n in range(count):
        draft = VersionDraft(
            flavor="custom",
            content_digest=f"sha256:{n:064x}",
            artifacts=(),
            lineage=Lineage(python="3.11", git_commit="0" * 40),
            created_by="bench",
            metrics={"accuracy": 0.9},
        )
        stores.metadata.add_version(model, draft)


def cli_seconds(env: dict[str, str], *args: str) -> float:
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([SHIPYARD, *args], env=env, check=True, stdout=subprocess.DEVNULL)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def agent_worker(url: str, token: str, root: str, offset: int, count: int) -> None:
    """One CI agent registering ``count`` versions through the API."""
    stores = remote_stores(Path(root) / "home", ServerClient(url, token))
    for n in range(count):
        register(stores, model_dir(Path(root), offset + n), "race", OPTIONS)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-team-"))
    postgres = start_postgres()
    server: TeamServer | None = None
    try:
        with postgres.admin() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        pg_version = str(row[0]) if row else "?"
        print(
            f"shipyard {__version__}, Python {platform.python_version()}, PostgreSQL "
            f"{pg_version} on 127.0.0.1 (fsync=off); {os.cpu_count()} cores "
            f"({platform.machine()})"
        )
        pg_url = postgres.url(postgres.create_database())
        server_url = postgres.url(postgres.create_database())
        server = TeamServer(work / "server", store=server_url, artifacts=str(work / "blobs"))
        server.start()
        token = server.token("bench", "register,deploy")
        client = ServerClient(server.url, token)

        # 1. one registration, three ways
        n = 50
        sqlite = open_stores(work / "sqlite-home")
        pg = open_stores(work / "pg-home", metadata=pg_url)
        api = remote_stores(work / "api-home", client)
        results = {
            "SQLite, in-process": time_registrations(sqlite, work / "src-sqlite", n, "one"),
            "PostgreSQL, in-process": time_registrations(pg, work / "src-pg", n, "one"),
            "through the API": time_registrations(api, work / "src-api", n, "one"),
        }
        print(f"\nregister one version ({n} each)      median      p95")
        for name, times in results.items():
            median, p95 = statistics.median(times) * 1000, percentile(times, 0.95) * 1000
            print(f"  {name:<30} {median:7.2f} ms {p95:7.2f} ms")

        # 2. listing 10,000 versions
        fill(sqlite, "big", 10_000)
        server_db = open_stores(work / "fill-home", metadata=server_url)
        fill(server_db, "big", 10_000)
        server_db.close()
        local_env = {**os.environ, "SHIPYARD_HOME": str(work / "sqlite-home")}
        local_env.pop("SHIPYARD_SERVER", None)
        team_env = {**local_env, "SHIPYARD_SERVER": server.url, "SHIPYARD_TOKEN": token}
        local_s = cli_seconds(local_env, "models", "versions", "big", "--json")
        team_s = cli_seconds(team_env, "models", "versions", "big", "--json")
        print("\nshipyard models versions --json, 10,000 versions (median of 3)")
        print(f"  local (SQLite)                 {local_s:7.2f} s")
        print(f"  through the API (PostgreSQL)   {team_s:7.2f} s")
        for stores in (sqlite, pg):
            stores.close()

        # 3. a 200 MB artifact
        uploads, copies = [], []
        for round_ in range(3):
            big = work / f"artifact-{round_}.bin"
            with big.open("wb") as out:
                for _ in range(200):
                    out.write(os.urandom(1 << 20))
            start = time.perf_counter()
            api.artifacts.put_file(big)
            uploads.append(time.perf_counter() - start)
            start = time.perf_counter()
            copy = work / f"copy-{round_}.bin"
            shutil.copyfile(big, copy)
            with copy.open("rb+") as f:
                os.fsync(f.fileno())
            copies.append(time.perf_counter() - start)
            big.unlink()
            copy.unlink()
        up, cp = statistics.median(uploads), statistics.median(copies)
        print("\n200 MB artifact (median of 3)")
        print(f"  upload through the API         {up:7.2f} s")
        print(f"  local copy (copyfile + fsync)  {cp:7.2f} s")
        print(f"  ratio                          {up / cp:7.1f} x")

        # 4. two agents at once
        start = time.perf_counter()
        agents = [
            multiprocessing.Process(
                target=agent_worker,
                args=(server.url, token, str(work / f"agent-{i}"), i * 1000, 100),
            )
            for i in range(2)
        ]
        for p in agents:
            p.start()
        for p in agents:
            p.join()
        elapsed = time.perf_counter() - start
        failed = [p.exitcode for p in agents if p.exitcode != 0]
        numbers = [v.version for v in api.metadata.list_versions("race")]
        gapless = sorted(numbers) == list(range(1, 201))
        print("\ntwo agents registering 100 versions each at once through the API")
        print(f"  time                           {elapsed:7.2f} s")
        print(f"  gapless 1..200                 {'yes' if gapless else 'no'}")
        if failed:
            print(f"  (agents failed with exit codes {failed}; {len(numbers)} versions made)")
    finally:
        if server is not None:
            server.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
