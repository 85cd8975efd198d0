"""Local CD end to end: a real control plane, real model servers, real HTTP load.

Every rollout here runs while clients send predictions continuously; the load
generator counts each failed request, and the tests require zero.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from deploy_helpers import ControlPlane, Load, echo_home, free_port, register_echo


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(echo_home(tmp_path, gates={5: "failed"}), free_port())
    plane.start()
    yield plane
    plane.cleanup()


def canary(cp: ControlPlane, version: str, steps: str, *extra: str) -> CompletedProcess[str]:
    """``shipyard deploy echo --version VERSION --strategy canary --steps STEPS …``."""
    return cp.cli(
        "deploy", "echo", "--version", version, "--strategy", "canary", "--steps", steps, *extra
    )


def deploy_v1(cp: ControlPlane) -> int:
    port = free_port()
    result = cp.cli("deploy", "echo", "--version", "1", "--port", str(port))
    assert result.returncode == 0, result.stderr
    assert "v1 serves all traffic" in result.stdout
    return port


def test_rolling_update_under_load_fails_no_request_and_keeps_the_old_version_warm(
    cp: ControlPlane,
) -> None:
    port = deploy_v1(cp)
    with Load(port) as load:
        load.wait(100)
        result = cp.cli("deploy", "echo", "--version", "2")
        assert result.returncode == 0, result.stderr
        load.wait(200)
    assert load.failures == []
    assert set(load.recent) == {2.0}
    status = cp.status()
    assert status["desired"]["weights"] == {"2": 100}
    assert list(status["desired"]["warm"]) == ["1"]
    assert sorted(status["observed"]["versions"]) == ["1", "2"]
    assert status["in_sync"]


def test_canary_that_passes_its_analysis_reaches_all_traffic_with_zero_failures(
    cp: ControlPlane,
) -> None:
    port = deploy_v1(cp)
    with Load(port) as load:
        load.wait(50)
        result = canary(cp, "2", "20,60", "--interval", "1s", "--min-requests", "5")
        assert result.returncode == 0, result.stdout + result.stderr
        load.wait(100)
    assert load.failures == []
    assert load.answers[1.0] > 0 and load.answers[2.0] > 0
    assert set(load.recent) == {2.0}
    steps = [e["data"]["reason"] for e in cp.events("rollout.step")]
    assert any("20% of traffic" in s for s in steps) and any("60% of traffic" in s for s in steps)
    rollout = cp.status()["rollout"]
    assert rollout["state"] == "succeeded" and rollout["analysis"]["verdict"] == "pass"
    aliases = cp.events("alias.")
    assert aliases[-1]["data"]["to_version"] == 2 and aliases[-1]["data"]["alias"] == "production"


def test_canary_failing_its_analysis_returns_traffic_to_stable_by_itself(cp: ControlPlane) -> None:
    port = deploy_v1(cp)
    with Load(port) as load:
        load.wait(50)
        result = canary(cp, "3", "30,100", "--interval", "1.5s", "--min-requests", "5")
        load.wait(100)
    assert result.returncode == 9, result.stdout + result.stderr
    assert "analysis failed" in result.stderr and "p95_latency_vs_stable" in result.stderr
    assert load.failures == []
    assert load.answers[3.0] > 0  # the canary did get traffic …
    assert set(load.recent) == {1.0}  # … and lost it
    status = cp.status()
    assert status["desired"]["weights"] == {"1": 100}
    assert "3" not in status["observed"]["versions"]
    aborted = cp.events("rollout.aborted")[-1]
    assert aborted["actor"] == "shipyard-controller"
    assert aborted["data"]["before"]["weights"] == {"1": 70, "3": 30}
    assert aborted["data"]["after"]["weights"] == {"1": 100}


def test_manual_rollback_is_a_weight_change_to_the_warm_version(cp: ControlPlane) -> None:
    port = deploy_v1(cp)
    assert cp.cli("deploy", "echo", "--version", "2").returncode == 0
    loaded_before = cp.status()["observed"]["versions"]
    with Load(port) as load:
        load.wait(100)
        result = cp.cli("rollback", "echo", "--reason", "bad answers reported")
        assert result.returncode == 0, result.stderr
        load.wait(100)
    assert load.failures == []
    assert set(load.recent) == {1.0}
    assert "1" in loaded_before  # it was warm: no load was needed
    event = cp.events("deployment.rolled_back")[-1]
    assert event["data"]["warm"] is True and event["data"]["reason"] == "bad answers reported"
    change = cp.status()["last_change"]
    assert change["kind"] == "deployment.rolled_back"
    assert change["reason"] == "bad answers reported"
    shown = cp.cli("status")
    assert "then rolled back by" in shown.stdout and "bad answers reported" in shown.stdout
    alias = cp.events("alias.")[-1]
    assert (alias["data"]["from_version"], alias["data"]["to_version"]) == (2, 1)
    again = cp.cli("rollback", "echo")
    assert again.returncode == 4 and "no previous version" in again.stderr


def test_blue_green_switch_smoke_tests_green_then_switches_with_zero_failures(
    cp: ControlPlane,
) -> None:
    port = deploy_v1(cp)
    with Load(port) as load:
        load.wait(50)
        result = cp.cli("deploy", "echo", "--version", "2", "--strategy", "blue-green")
        assert result.returncode == 0, result.stdout + result.stderr
        load.wait(100)
    assert load.failures == []
    assert set(load.recent) == {2.0}
    assert list(cp.status()["desired"]["warm"]) == ["1"]


def test_a_killed_model_server_worker_is_replaced_and_only_in_flight_requests_fail(
    cp: ControlPlane,
) -> None:
    port = deploy_v1(cp)
    worker = cp.status()["observed"]["workers"][0]["pid"]
    with Load(port, clients=2) as load:
        load.wait(50)
        os.kill(worker, signal.SIGKILL)
        cp.wait_for(
            lambda s: s["observed"]["ready"] and s["observed"]["workers"][0]["pid"] != worker,
        )
        load.wait(100)
    assert len(load.failures) <= 2, load.failures  # at most one in flight per client


def test_a_killed_server_process_is_restarted_by_the_control_plane(cp: ControlPlane) -> None:
    port = deploy_v1(cp)
    supervisor = cp.status()["process"]["pid"]
    os.kill(supervisor, signal.SIGKILL)
    status = cp.wait_for(
        lambda s: (
            s["process"] is not None
            and s["process"]["pid"] != supervisor
            and s["observed"]["ready"]
        ),
    )
    assert status["observed"]["versions"] == ["1"]
    with Load(port) as load:
        load.wait(50)
    assert load.failures == []
    assert cp.events("deployment.process.restarted")


def test_killing_the_control_plane_mid_canary_leaves_serving_untouched_and_resumes(
    cp: ControlPlane,
) -> None:
    port = deploy_v1(cp)
    started = canary(cp, "2", "50,100", "--interval", "3s", "--min-requests", "5", "--no-wait")
    assert started.returncode == 0, started.stderr
    cp.wait_for(lambda s: s["desired"]["weights"] == {"1": 50, "2": 50} and s["in_sync"])
    server_pid = cp.status()["process"]["pid"]
    with Load(port) as load:
        load.wait(50)
        cp.kill()
        load.wait(200)  # nothing but the control plane is gone
        assert load.failures == []
        assert load.answers[1.0] > 0 and load.answers[2.0] > 0
        cp.start()
        cp.wait_for(lambda s: s["rollout"]["state"] == "succeeded", seconds=30)
        load.wait(100)
    assert load.failures == []
    assert set(load.recent) == {2.0}
    assert cp.status()["process"]["pid"] == server_pid  # adopted, not started again
    assert cp.events("deployment.process.adopted")
    assert cp.events("rollout.resumed")


def test_a_resume_policy_of_abort_returns_traffic_to_stable_after_a_restart(
    cp: ControlPlane,
) -> None:
    deploy_v1(cp)
    canary(cp, "2", "50,100", "--on-resume", "abort", "--no-wait")
    cp.wait_for(lambda s: s["rollout"]["state"] == "paused" and s["in_sync"])
    cp.kill()
    cp.start()
    status = cp.wait_for(lambda s: s["rollout"]["state"] == "aborted" and s["in_sync"])
    assert status["desired"]["weights"] == {"1": 100}
    assert "resume policy is abort" in status["rollout"]["error"]


def test_a_second_deploy_during_a_rollout_is_refused_and_changes_nothing(
    cp: ControlPlane,
) -> None:
    deploy_v1(cp)
    first = canary(cp, "2", "10", "--no-wait")
    assert first.returncode == 0, first.stderr
    cp.wait_for(lambda s: s["rollout"]["state"] == "paused")
    second = cp.cli("deploy", "echo", "--version", "5", "--force")
    assert second.returncode == 8
    assert "rollout in progress" in second.stderr and "shipyard abort echo" in second.stderr
    assert cp.status()["desired"]["weights"] == {"1": 90, "2": 10}
    promoted = cp.cli("promote", "echo")
    assert promoted.returncode == 0, promoted.stderr
    assert cp.status()["desired"]["weights"] == {"2": 100}


def test_shadow_rollout_copies_traffic_without_answering_then_goes_live_on_promote(
    cp: ControlPlane,
) -> None:
    port = deploy_v1(cp)
    with Load(port) as load:
        result = cp.cli(
            "deploy",
            "echo",
            "--version",
            "2",
            "--strategy",
            "shadow",
            "--interval",
            "1s",
            "--min-requests",
            "5",
        )
        assert result.returncode == 0, result.stderr
        assert "paused" in result.stdout
        load.wait(50)
        assert set(load.recent) == {1.0}  # shadow answers are discarded
        rollout = cp.status()["rollout"]
        assert rollout["analysis"]["new"]["shadow_compared"] >= 5
        assert cp.cli("promote", "echo").returncode == 0
        load.wait(100)
    assert load.failures == []
    assert set(load.recent) == {2.0}


def test_recreate_restarts_the_server_on_the_new_version(cp: ControlPlane) -> None:
    deploy_v1(cp)
    before = cp.status()["process"]["pid"]
    result = cp.cli("deploy", "echo", "--version", "2", "--strategy", "recreate")
    assert result.returncode == 0, result.stderr
    status = cp.status()
    assert status["process"]["pid"] != before
    assert status["observed"]["versions"] == ["2"]


# -- bad input ------------------------------------------------------------------------


def test_deploying_an_unknown_version_is_refused(cp: ControlPlane) -> None:
    result = cp.cli("deploy", "echo", "--version", "42")
    assert result.returncode == 4 and "42" in result.stderr
    assert cp.api("GET", "deployments") == []


def test_a_version_that_failed_its_gates_needs_force_and_the_refusal_is_recorded(
    cp: ControlPlane,
) -> None:
    deploy_v1(cp)
    refused = cp.cli("deploy", "echo", "--version", "5")
    assert refused.returncode == 3 and "failed its quality gates" in refused.stderr
    assert "--force" in refused.stderr
    assert cp.events("deploy.refused")[-1]["version"] == 5
    assert cp.status()["desired"]["weights"] == {"1": 100}
    forced = cp.cli("deploy", "echo", "--version", "5", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "--force" in cp.events("rollout.started")[-1]["data"]["reason"]


def test_a_version_that_fails_to_load_aborts_before_any_traffic_moves(cp: ControlPlane) -> None:
    port = deploy_v1(cp)
    with Load(port) as load:
        result = cp.cli("deploy", "echo", "--version", "4", "--strategy", "canary")
        load.wait(50)
    assert result.returncode == 9 and "weights file missing" in result.stderr
    assert load.failures == [] and set(load.answers) == {1.0}
    status = cp.status()
    assert status["rollout"]["state"] == "failed"
    assert status["observed"]["versions"] == ["1"] and status["desired"]["weights"] == {"1": 100}


def test_a_first_version_that_cannot_start_leaves_no_deployment(cp: ControlPlane) -> None:
    result = cp.cli("deploy", "echo", "--version", "4", "--port", str(free_port()))
    assert result.returncode != 0 and "weights file missing" in result.stderr
    assert cp.api("GET", "deployments") == []


def test_a_port_in_use_is_refused_before_anything_is_created(cp: ControlPlane) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cp.cli("deploy", "echo", "--version", "1", "--port", str(port))
    assert result.returncode == 2 and f"port {port}" in result.stderr
    assert cp.api("GET", "deployments") == []


@pytest.mark.parametrize("name", ["../etc", "a/b", "Echo", "x.y", "-x"])
def test_a_deployment_name_with_path_characters_is_refused(cp: ControlPlane, name: str) -> None:
    result = cp.cli("deploy", "echo", "--version", "1", "--name", name)
    assert result.returncode == 2 and "invalid deployment name" in result.stderr
    assert not (cp.home / "logs" / "deployments").exists()


def test_traffic_weights_must_sum_to_100(cp: ControlPlane) -> None:
    port = deploy_v1(cp)
    result = cp.cli("traffic", "echo", "1=60,2=30")
    assert result.returncode == 2 and "sum to 100" in result.stderr and "90" in result.stderr
    assert cp.status()["desired"]["weights"] == {"1": 100}
    ok = cp.cli("traffic", "echo", "1=70,2=30")
    assert ok.returncode == 0, ok.stderr
    with Load(port) as load:
        load.wait(200)
    assert load.answers[1.0] > load.answers[2.0] > 0


def test_bad_steps_are_refused_with_the_rule(cp: ControlPlane) -> None:
    deploy_v1(cp)
    result = canary(cp, "2", "50,20")
    assert result.returncode == 2 and "must increase" in result.stderr


def test_resource_limits_are_applied_to_the_server_process(cp: ControlPlane) -> None:
    port = free_port()
    result = cp.cli(
        "deploy",
        "echo",
        "--version",
        "1",
        "--port",
        str(port),
        "--memory",
        "4GiB",
        "--open-files",
        "512",
    )
    assert result.returncode == 0, result.stderr
    limits = Path(f"/proc/{cp.status()['process']['pid']}/limits").read_text()
    assert any(
        line.startswith("Max address space") and "4294967296" in line
        for line in limits.splitlines()
    )
    assert any(
        line.startswith("Max open files") and " 512 " in line for line in limits.splitlines()
    )


def test_unknown_server_options_are_refused_before_anything_starts(cp: ControlPlane) -> None:
    import http.client
    import json

    connection = http.client.HTTPConnection("127.0.0.1", cp.port, timeout=30)
    body = {"model": "echo", "version": 1, "options": {"workers_per_core": 3}}
    headers = {"authorization": f"Bearer {cp.token}"}
    connection.request("POST", "/api/v1/deployments", body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 400 and "workers_per_core" in answer["error"]
    assert cp.api("GET", "deployments") == []


def test_the_server_logs_go_to_a_file_under_the_home(cp: ControlPlane) -> None:
    deploy_v1(cp)
    log = cp.home / "logs" / "deployments" / "echo.log"
    assert cp.status()["process"]["log"] == str(log)
    assert "starting echo" in log.read_text()


def test_a_server_changed_behind_the_control_planes_back_is_put_back(cp: ControlPlane) -> None:
    from shipyard.serving.admin_client import AdminClient
    from shipyard.store import open_stores

    deploy_v1(cp)
    assert cp.cli("deploy", "echo", "--version", "2").returncode == 0
    stores = open_stores(cp.home)
    proc = stores.deploy.get_process("echo")
    stores.close()
    assert proc is not None
    admin = AdminClient(Path(proc.admin_socket), Path(proc.token_file).read_text().strip())
    admin.load(5)
    admin.route({"1": 100, "2": 0, "5": 0})  # someone went around the control plane
    status = cp.wait_for(
        lambda s: s["in_sync"] and s["observed"]["routes"]["weights"].get("2") == 100
    )
    assert sorted(status["observed"]["versions"]) == ["1", "2"]  # v5 unloaded again


def test_a_hung_server_is_killed_and_replaced(cp: ControlPlane) -> None:
    port = deploy_v1(cp)
    status = cp.status()
    hung = [status["process"]["pid"], *(w["pid"] for w in status["observed"]["workers"])]
    for pid in hung:
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
    replaced = cp.wait_for(
        lambda s: (
            s["process"] is not None and s["process"]["pid"] not in hung and s["observed"]["ready"]
        ),
        seconds=60,
    )
    assert replaced["observed"]["versions"] == ["1"]
    with Load(port) as load:
        load.wait(50)
    assert load.failures == []
    killed = cp.events("deployment.process.killed")
    assert killed and "health/live" in killed[-1]["data"]["reason"]
    for pid in hung:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_a_canary_the_server_cannot_restart_with_is_aborted_and_stable_comes_back(
    cp: ControlPlane, tmp_path: Path
) -> None:
    marker = tmp_path / "weights-present"
    marker.touch()
    fragile = register_echo(cp.home, tmp_path, 6.0, f"open({str(marker)!r}).close()")
    port = deploy_v1(cp)
    started = canary(cp, str(fragile), "50", "--no-wait")
    assert started.returncode == 0, started.stderr
    before = cp.wait_for(lambda s: s["rollout"]["state"] == "paused" and s["in_sync"])
    marker.unlink()  # the new version could no longer be loaded from scratch …
    os.kill(before["process"]["pid"], signal.SIGKILL)  # … and its server dies
    status = cp.wait_for(
        lambda s: s["rollout"]["state"] == "aborted" and s["observed"]["ready"], seconds=60
    )
    assert "could not start or load with v" in status["rollout"]["error"]
    assert status["observed"]["versions"] == ["1"]
    with Load(port) as load:
        load.wait(50)
    assert load.failures == [] and set(load.answers) == {1.0}


def test_a_version_that_kills_its_worker_while_loading_fails_before_traffic_moves(
    cp: ControlPlane, tmp_path: Path
) -> None:
    crashing = register_echo(cp.home, tmp_path, 7.0, "import os; os._exit(3)")
    port = deploy_v1(cp)
    result = cp.cli("deploy", "echo", "--version", str(crashing), "--strategy", "canary")
    assert result.returncode == 9, result.stdout + result.stderr
    assert "failed to load" in result.stderr
    status = cp.wait_for(lambda s: s["observed"]["ready"] and s["in_sync"])
    assert status["observed"]["versions"] == ["1"]
    with Load(port) as load:
        load.wait(50)
    assert load.failures == [] and set(load.answers) == {1.0}


def test_promote_moves_one_step_and_full_goes_to_the_end(cp: ControlPlane) -> None:
    deploy_v1(cp)
    canary(cp, "2", "10,50", "--no-wait")
    cp.wait_for(lambda s: s["rollout"]["state"] == "paused")
    assert cp.cli("promote", "echo", "--reason", "looks good on the dashboard").returncode == 0
    status = cp.wait_for(lambda s: s["rollout"]["state"] == "paused" and s["rollout"]["step"] == 2)
    assert status["desired"]["weights"] == {"1": 50, "2": 50}
    step = cp.events("rollout.step")[-1]
    assert step["data"]["reason"].endswith("(promoted: looks good on the dashboard)")
    assert cp.cli("promote", "echo", "--full").returncode == 0
    assert cp.status()["desired"]["weights"] == {"2": 100}


def test_settings_that_restart_the_server_need_recreate(cp: ControlPlane) -> None:
    deploy_v1(cp)
    refused = cp.cli("deploy", "echo", "--version", "1", "--replicas", "2")
    assert refused.returncode == 2 and "--strategy recreate" in refused.stderr
    assert cp.status()["replicas"] == 1
    applied = cp.cli(  # the same version, restarted with the new setting
        "deploy", "echo", "--version", "1", "--replicas", "2", "--strategy", "recreate"
    )
    assert applied.returncode == 0, applied.stderr
    status = cp.status()
    assert status["replicas"] == 2 and len(status["observed"]["workers"]) == 2


def test_an_unknown_host_is_refused_at_once(cp: ControlPlane) -> None:
    result = cp.cli("deploy", "echo", "--version", "1", "--host", "no-such-host.invalid")
    assert result.returncode == 2 and "--host" in result.stderr
    assert cp.api("GET", "deployments") == []


def test_two_deploys_at_the_same_moment_never_interleave(cp: ControlPlane) -> None:
    import subprocess

    from test_serving import SHIPYARD

    deploy_v1(cp)
    args = ["--strategy", "canary", "--steps", "50", "--no-wait", "--force"]
    both = [
        subprocess.Popen(
            [SHIPYARD, "deploy", "echo", "--version", version, *args],
            env=cp.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in ("2", "5")
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in both]
    assert sorted(code for code, _ in results) == [0, 8], results
    assert any("rollout in progress" in err for _, err in results)
    started = cp.events("rollout.started")
    assert len(started) == 2  # the first deploy of v1, and exactly one of the two
    status = cp.wait_for(lambda s: s["rollout"]["state"] == "paused")
    assert len(status["desired"]["weights"]) == 2


def test_a_failed_recreate_brings_the_old_version_back_with_its_old_settings(
    cp: ControlPlane,
) -> None:
    port = deploy_v1(cp)
    result = cp.cli(
        "deploy", "echo", "--version", "4", "--strategy", "recreate", "--open-files", "64"
    )
    assert result.returncode == 9 and "weights file missing" in result.stderr
    status = cp.wait_for(lambda s: s["observed"]["ready"] and s["in_sync"], seconds=60)
    assert status["observed"]["versions"] == ["1"]
    limits = Path(f"/proc/{status['process']['pid']}/limits").read_text()
    assert not any(
        line.startswith("Max open files") and " 64 " in line for line in limits.splitlines()
    )
    with Load(port) as load:
        load.wait(50)
    assert load.failures == []


def test_metrics_show_a_deployments_live_numbers_over_a_window(tmp_path: Path) -> None:
    import json

    plane = ControlPlane(echo_home(tmp_path), free_port(), scrape_interval=0.5)
    plane.start()
    try:
        port = deploy_v1(plane)
        with Load(port) as load:
            load.wait(300)
            time.sleep(1.5)  # a few scrapes while the load runs
        shown = plane.cli("metrics", "echo", "--window", "1m", "--json")
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        assert data["scrapes"] >= 3 and data["unavailable"] is None
        assert data["values"]["requests"] > 0 and data["values"]["error_rate"] == 0
        assert data["values"]["p99_latency"] is not None
        assert any(v for v in data["history"]["requests"])
        own = plane.cli("metrics", "echo", "--window", "1m", "--version", "1", "--json")
        mine = json.loads(own.stdout)
        assert mine["version"] == "1" and mine["values"]["requests"] > 0  # v1 took it all
        other = json.loads(plane.cli("metrics", "echo", "--version", "2", "--json").stdout)
        assert not other["values"]["requests"]  # no request reached a v2
        table = plane.cli("metrics", "echo", "--window", "1m")
        assert "requests/s" in table.stdout and "p99 latency" in table.stdout
        assert plane.cli("metrics", "echo", "--window", "soon").returncode == 2
        assert plane.cli("metrics", "nope").returncode == 4
    finally:
        plane.cleanup()
