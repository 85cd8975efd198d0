"""Two CI agents and one team server on PostgreSQL: the flow Shipyard exists for.

Each agent has its own work tree and home and nothing but the server's URL and a
token. Both pipelines validate against the same production champion, their
versions are numbered without gaps, and a canary one agent started goes on after
that agent is killed.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import example_project
from team_helpers import BOOTSTRAP, Agent, TeamServer, call
from test_serving import SHIPYARD, free_port

DIGIT = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
         0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
         0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]  # fmt: skip


def work_tree(path: Path) -> Path:
    """A CI agent's checkout of the digits example."""
    return example_project(path, "digits")


@pytest.fixture
def team(tmp_path: Path, postgres_url: str) -> Iterator[TeamServer]:
    server = TeamServer(
        tmp_path / "server-home", store=postgres_url, artifacts=str(tmp_path / "blobs")
    )
    server.start()
    yield server
    for status in call(server.port, "GET", "/api/v1/deployments", token=BOOTSTRAP)[1]:
        call(server.port, "DELETE", f"/api/v1/deployments/{status['name']}", token=BOOTSTRAP)
    server.stop()


def champion_of(project: Path) -> int | None:
    report = json.loads((project / ".shipyard" / "reports" / "validate.json").read_text())
    champion = report.get("champion")
    return None if champion is None else int(champion["version"])


class Traffic:
    """Requests for one digit, sent until stopped (the canary's analysis needs some)."""

    def __init__(self, port: int) -> None:
        self.port, self.answered, self.failed = port, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        body = json.dumps({"instances": [DIGIT]})
        while not self._stop.is_set():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", "/v1/models/digits:predict", body=body)
                ok = conn.getresponse().status == 200
                conn.close()
            except OSError:
                ok = False
            self.answered += ok
            self.failed += not ok
            time.sleep(0.01)


def test_two_ci_agents_share_the_champion_number_versions_gaplessly_and_a_canary_outlives_its_job(
    team: TeamServer, tmp_path: Path
) -> None:
    jenkins = Agent(tmp_path / "jenkins-home", team, team.token("jenkins", "register,deploy"))
    gitlab = Agent(tmp_path / "gitlab-home", team, team.token("gitlab", "register,deploy"))
    first_tree, second_tree = work_tree(tmp_path / "a"), work_tree(tmp_path / "b")

    first = jenkins.cli("run", cwd=first_tree)
    assert first.returncode == 0, first.stdout + first.stderr
    assert champion_of(first_tree) is None  # the team has no production version yet
    assert jenkins.cli("alias", "set", "digits", "production", "1").returncode == 0

    # both agents at once, with other hyper-parameters: each must beat the team's v1
    runs = [
        subprocess.Popen(
            [SHIPYARD, "run", "--param", f"C={c}"],
            cwd=tree,
            env=who.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for who, tree, c in ((jenkins, first_tree, 0.2), (gitlab, second_tree, 0.3))
    ]
    outputs = [p.communicate(timeout=600)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    assert champion_of(first_tree) == 1 and champion_of(second_tree) == 1
    reader = Agent(tmp_path / "alice-home", team, team.token("alice", "read"))
    versions = json.loads(reader.cli("models", "versions", "digits", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert sorted(v["created_by"] for v in versions) == ["gitlab", "jenkins", "jenkins"]
    assert not (jenkins.home / "registry.db").exists()  # nothing was kept on the agent

    # the first rollout, then a canary that the agent starts and is killed while following
    port = free_port()
    placed = jenkins.cli("deploy", "digits", "--version", "1", "--port", str(port))
    assert placed.returncode == 0, placed.stderr
    with Traffic(port) as traffic:
        job = subprocess.Popen(
            [
                SHIPYARD,
                "deploy",
                "digits",
                "--version",
                "3",
                "--strategy",
                "canary",
                "--steps",
                "10,50,100",
                "--interval",
                "2s",
                "--min-requests",
                "5",
            ],
            env=gitlab.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            status = call(team.port, "GET", "/api/v1/deployments/digits", token=BOOTSTRAP)[1]
            rollout = status.get("rollout") or {}
            if rollout.get("to_version") == 3 and rollout.get("state") not in (None, "loading"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        job.send_signal(signal.SIGKILL)  # the CI job ends mid-canary
        job.wait()
        deadline = time.monotonic() + 120
        while True:
            status = call(team.port, "GET", "/api/v1/deployments/digits", token=BOOTSTRAP)[1]
            if not status["rollout"]["active"]:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert traffic.answered > 20
    assert status["rollout"]["state"] == "succeeded", status
    history = json.loads(reader.cli("alias", "history", "digits", "production", "--json").stdout)
    # production moved to v3 when the controller finished the rollout gitlab started
    assert [m["to_version"] for m in history] == [1, 3] and history[0]["actor"] == "jenkins"
    started = [e for e in team.events() if e["kind"] == "rollout.started"]
    assert [(e["version"], e["actor"]) for e in started][-1] == (3, "gitlab")
