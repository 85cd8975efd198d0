"""A real Prometheus for tests: its own config, data dir and port on loopback, scraping fast.

    with start_prometheus(tmp_path, ["127.0.0.1:8000"], rule_files=[rules]) as prom:
        prom.wait_for('shipyard_requests_total')
        prom.query('sum(rate(shipyard_requests_total[1m]))')

``make test`` installs it (``scripts/system-deps.sh prometheus``); a missing binary fails the
test with that hint rather than skipping it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml

from test_serving import free_port

PROMETHEUS = shutil.which("prometheus")


class PromQLError(AssertionError):
    """Prometheus refused a query (bad PromQL, or a failed evaluation)."""


@dataclass
class Daemon:
    """A server a test started on 127.0.0.1: its URL, process and directory (config,
    data and ``NAME.log``)."""

    url: str
    proc: subprocess.Popen[bytes]
    directory: Path
    name: ClassVar[str] = "daemon"

    def log(self, lines: int = 30) -> str:
        """The end of its own log, for failure messages."""
        text = (self.directory / f"{self.name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop it (a kill when it does not stop within 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def wait_ready(self, seconds: float = 30) -> None:
        """Until it answers ``/-/ready``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/-/ready", timeout=5).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready after {seconds} s:\n{self.log()}")


@dataclass
class Prometheus(Daemon):
    """A running ``prometheus`` and its HTTP API."""

    name: ClassVar[str] = "prometheus"

    def api(self, path: str, **params: Any) -> Any:
        """``GET /api/v1/PATH``: the ``data`` of a successful answer, else ``PromQLError``."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise PromQLError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) of ``expr`` now."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(self, expr: str, seconds: float = 30) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns a series (scrapes and rule evaluations take time)."""
        deadline = time.monotonic() + seconds
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert result, f"no series for {expr} after {seconds} s; {self.targets()}\n{self.log()}"
        return result

    def targets(self) -> str:
        """The scrape targets' health, for failure messages."""
        active = self.api("targets")["activeTargets"]
        return "; ".join(f"{t['scrapeUrl']} {t['health']} {t['lastError']}" for t in active)


def prometheus_config(
    targets: Sequence[str],
    rule_files: Sequence[Path] = (),
    extra_config: dict[str, Any] | None = None,
    interval: str = "1s",
) -> dict[str, Any]:
    """A config scraping ``targets`` and evaluating ``rule_files`` every ``interval``;
    ``extra_config``'s top-level keys (``alerting``, more ``scrape_configs``…) win."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": [
            {"job_name": "shipyard", "static_configs": [{"targets": list(targets)}]}
        ],
    }
    config.update(extra_config or {})
    return config


@contextlib.contextmanager
def start_prometheus(
    tmp_path: Path,
    targets: Sequence[str],
    rule_files: Sequence[Path] = (),
    extra_config: dict[str, Any] | None = None,
    interval: str = "1s",
) -> Iterator[Prometheus]:
    """A Prometheus on 127.0.0.1 with its config and data under ``tmp_path/prometheus``,
    ready (``/-/ready``) when entered and stopped on exit."""
    if PROMETHEUS is None:
        pytest.fail("prometheus is not installed: run `bash scripts/system-deps.sh prometheus`")
    directory = tmp_path / "prometheus"
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    document = prometheus_config(targets, rule_files, extra_config, interval)
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    port = free_port()
    log = (directory / "prometheus.log").open("ab")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",  # POST /-/reload after a test rewrites the config
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    server = Prometheus(f"http://127.0.0.1:{port}", proc, directory)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


__all__ = ["Daemon", "PromQLError", "Prometheus", "prometheus_config", "start_prometheus"]
