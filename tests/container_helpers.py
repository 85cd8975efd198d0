"""Real containers without a Docker engine, for the image tests and benchmark.

Podman runs with a configuration of its own (``CONTAINERS_CONF``,
``CONTAINERS_STORAGE_CONF``) and storage under a temporary directory: runc, the
cgroupfs manager, 1024 open files and processes, and the host's network for
builds and containers (a private network here would use a range that must not
be used). The product itself calls the builder as the user has it configured;
only these tests set it up. Docker Hub is out of reach, so the base image is
Debian bookworm with Debian's Python (``scripts/test-base-image.sh``, cached
outside the repository). ``make test`` installs every command used here; a
missing one fails, never skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHIPYARD = str(Path(sys.executable).parent / "shipyard")
BASE_IMAGE = "localhost/shipyard-test-base:bookworm"
COMMANDS = ("podman", "buildah", "skopeo", "docker-registry", "debootstrap")

CONTAINERS_CONF = """\
[containers]
netns = "host"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{root}/tmp"
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
runroot = "{root}/run"
graphroot = "{root}/storage"
"""

DIGITS_SPEC = """\
model:
  name: digits
  flavor: sklearn
  path: model.skops
train:
  command: python train.py
  metrics: metrics.json
  params:
    C: {c}
    max_iter: 1000
package:
  code: [model.py]
register:
  alias: candidate
"""


class MissingComponent(AssertionError):
    """A command the image tests need is not installed."""


def require_commands() -> None:
    """Fail (never skip) when a command is missing, naming how to install it."""
    missing = [name for name in COMMANDS if shutil.which(name) is None]
    if missing:
        raise MissingComponent(
            f"missing: {', '.join(missing)}; `make test` installs them "
            f"(bash scripts/system-deps.sh {' '.join(missing)})"
        )


@dataclass
class Containers:
    """Podman and skopeo with the configuration above, and the base image loaded."""

    root: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        """A command (podman, skopeo, shipyard…) in this environment; its stdout."""
        proc = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}"
                f"\n{proc.stderr[-3000:]}"
            )
        return proc.stdout

    def inspect(self, image: str) -> dict[str, Any]:
        """``podman image inspect``'s record of a local image."""
        records: list[dict[str, Any]] = json.loads(self.run("podman", "image", "inspect", image))
        return records[0]

    def layers(self, image: str) -> list[str]:
        """A local image's layers (their uncompressed digests), base first."""
        layers: list[str] = self.inspect(image)["RootFS"]["Layers"]
        return layers

    def wait_ready(self, url: str, container: str, seconds: float = 120) -> None:
        """Until ``url`` answers 200; else fail with the container's log."""
        import httpx

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.25)
        logs = self.run("podman", "logs", container, check=False)
        raise AssertionError(f"{url} not ready after {seconds} s:\n{logs}")

    def cleanup(self) -> None:
        """Remove every container and image, then the storage (unmounted first)."""
        self.run("podman", "rm", "--all", "--force", check=False)
        self.run("podman", "rmi", "--all", "--force", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_containers(root: Path, home: Path) -> Containers:
    """Podman configured under ``root`` (Shipyard's home: ``home``), the base image loaded."""
    require_commands()
    root.mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "containers.conf").write_text(CONTAINERS_CONF.format(root=root))
    (root / "storage.conf").write_text(STORAGE_CONF.format(root=root))
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(root / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_ACTOR": "tester",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    containers = Containers(root, env)
    archive = containers.run("bash", str(ROOT / "scripts" / "test-base-image.sh"), timeout=900)
    if not containers.run("podman", "images", "--quiet", BASE_IMAGE).strip():
        containers.run("podman", "load", "--input", archive.strip().splitlines()[-1])
    return containers


def commit_all(project: Path, message: str) -> str:
    """Commit the project's files; return the commit."""
    for args in (["add", "."], ["commit", "-qm", message], ["rev-parse", "HEAD"]):
        out = subprocess.run(
            ["git", *args], cwd=project, check=True, capture_output=True, text=True
        ).stdout
    return out.strip()


def digits_project(path: Path) -> Path:
    """The digits example's training code, committed (``register_digits`` adds the spec)."""
    path.mkdir(parents=True)
    for name in ("train.py", "model.py"):
        shutil.copyfile(ROOT / "examples" / "digits" / name, path / name)
    (path / ".gitignore").write_text("model.skops\nmetrics.json\n.shipyard/\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "dev@example.com"],
        ["config", "user.name", "Dev"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True)
    commit_all(path, "digits")
    return path


def register_digits(containers: Containers, project: Path, c: float) -> str:
    """Train and register a digits version with ``C=c`` from a new commit; return the commit."""
    (project / "shipyard.yaml").write_text(DIGITS_SPEC.format(c=c))
    commit = commit_all(project, f"C={c}")
    proc = subprocess.run(
        [SHIPYARD, "run"], cwd=project, env=containers.env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return commit


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_registry(root: Path) -> Iterator[str]:
    """Debian's ``docker-registry`` on 127.0.0.1 (no TLS), its storage under ``root``;
    yields ``127.0.0.1:PORT``."""
    import httpx

    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"docker-registry did not start:\n{(root / 'registry.log').read_text()}"
                )
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
