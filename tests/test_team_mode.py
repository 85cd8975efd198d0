"""Team mode: one ``shipyard server`` that laptops and CI agents reach with a URL and a
named token; scopes, actors, remote registry commands, blobs over the API, refusals."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from moto_helpers import MotoS3
from moto_helpers import moto_s3_fixture as moto_s3_fixture
from moto_helpers import s3_credentials_fixture as s3_credentials_fixture
from team_helpers import BOOTSTRAP, Agent, TeamServer, call
from test_serving import SHIPYARD, free_port


@pytest.fixture
def team(tmp_path: Path) -> Iterator[TeamServer]:
    server = TeamServer(tmp_path / "server-home")
    server.start()
    yield server
    server.stop()


def agent(team: TeamServer, tmp_path: Path, name: str, scopes: str) -> Agent:
    return Agent(tmp_path / f"{name}-home", team, team.token(name, scopes))


def model_dir(tmp_path: Path, value: float) -> Path:
    source = tmp_path / f"echo-{value}"
    source.mkdir()
    (source / "model.py").write_text(
        f"class Echo:\n    def load(self, path):\n        pass\n"
        f"    def predict(self, xs):\n        return [[{value}] for _ in xs]\n"
    )
    return source


def register(who: Agent, source: Path) -> subprocess.CompletedProcess[str]:
    return who.cli(
        "register", str(source), "--name", "echo", "--flavor", "custom",
        "--entrypoint", "model:Echo", "--json",
    )  # fmt: skip


def test_a_token_is_shown_once_and_only_its_salted_hash_is_kept(
    team: TeamServer, tmp_path: Path
) -> None:
    admin = Agent(tmp_path / "admin-home", team, BOOTSTRAP)
    made = admin.cli("tokens", "create", "jenkins", "--scope", "register,deploy", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    assert token.startswith("shp_")
    listed = admin.cli("tokens", "list", "--json")
    assert token not in listed.stdout and "hash" not in listed.stdout
    [row] = json.loads(listed.stdout)
    assert row["name"] == "jenkins" and row["scopes"] == ["register", "deploy"]
    database = (team.home / "registry.db").read_bytes()
    assert token.encode() not in database and token.split("_")[2].encode() not in database


def test_a_read_token_can_list_but_cannot_deploy_and_the_403_names_the_scope(
    team: TeamServer, tmp_path: Path
) -> None:
    alice = agent(team, tmp_path, "alice", "read")
    listed = alice.cli("models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    refused = alice.cli("deploy", "echo", "--version", "1")
    assert refused.returncode == 10
    assert "lacks the 'deploy' scope" in refused.stderr
    status, body = call(
        team.port, "POST", "/api/v1/deployments", b'{"model": "echo", "version": 1}',
        token=alice.token,
    )  # fmt: skip
    assert status == 403 and "'deploy'" in body["error"]
    refused = register(alice, model_dir(tmp_path, 1.0))
    assert refused.returncode == 10 and "'register' scope" in refused.stderr


def test_wrong_and_revoked_tokens_are_401(team: TeamServer, tmp_path: Path) -> None:
    jenkins = agent(team, tmp_path, "jenkins", "register")
    assert jenkins.cli("models", "list").returncode == 0
    status, body = call(team.port, "GET", "/api/v1/models", token="shp_000000000000_" + "x" * 43)
    assert status == 401 and "wrong token" in body["error"]
    admin = Agent(tmp_path / "admin-home", team, BOOTSTRAP)
    assert admin.cli("tokens", "revoke", "jenkins").returncode == 0
    after = jenkins.cli("models", "list")
    assert after.returncode == 10 and "revoked" in after.stderr


def test_every_endpoint_declares_its_scope_in_the_openapi_document(team: TeamServer) -> None:
    status, doc = call(team.port, "GET", "/openapi.json")
    assert status == 200
    operations = [op for path in doc["paths"].values() for op in path.values()]
    assert len(operations) > 30
    for op in operations:
        assert op["x-scope"] in ("read", "register", "deploy", "admin"), op["summary"]
        assert "403" in op["responses"] and "401" in op["responses"]
    assert doc["paths"]["/api/v1/tokens"]["post"]["x-scope"] == "admin"
    assert doc["paths"]["/api/v1/models/{model}/versions"]["post"]["x-scope"] == "register"


def test_registering_through_the_server_uploads_blobs_and_records_the_token_as_actor(
    team: TeamServer, tmp_path: Path
) -> None:
    jenkins = agent(team, tmp_path, "jenkins", "register,deploy")
    first = register(jenkins, model_dir(tmp_path, 1.0))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["version"] == 1
    # the files live on the server, not in the agent's home
    assert not (jenkins.home / "artifacts").exists() and (team.home / "artifacts").is_dir()
    second = register(jenkins, model_dir(tmp_path, 2.0))
    assert json.loads(second.stdout)["version"] == 2
    assert jenkins.cli("alias", "set", "echo", "production", "2").returncode == 0
    alice = agent(team, tmp_path, "alice", "read")
    versions = json.loads(alice.cli("models", "versions", "echo", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2]
    assert {v["created_by"] for v in versions} == {"jenkins"}
    history = json.loads(alice.cli("alias", "history", "echo", "production", "--json").stdout)
    assert [(m["to_version"], m["actor"]) for m in history] == [(2, "jenkins")]
    kinds = {(e["kind"], e["actor"]) for e in team.events()}
    assert ("model.version.registered", "jenkins") in kinds
    assert ("alias.set", "jenkins") in kinds
    # and the version's files come back verified on another machine
    out = tmp_path / "downloaded"
    got = alice.cli("models", "download", "echo", "2", "--out", str(out))
    assert got.returncode == 0, got.stderr
    assert "2.0" in (out / "model.py").read_text()


def test_a_configured_server_that_is_down_is_an_error_naming_its_url_never_a_local_store(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        "SHIPYARD_HOME": str(tmp_path / "home"),
        "SHIPYARD_SERVER": f"http://127.0.0.1:{port}",
        "SHIPYARD_TOKEN": "shp_000000000000_" + "x" * 43,
        "PATH": "/usr/bin:/bin",
    }
    for args in (("models", "list"), ("status",), ("events",)):
        result = subprocess.run([SHIPYARD, *args], env=env, capture_output=True, text=True)
        assert result.returncode == 11, (args, result.stderr)
        assert f"127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "home" / "registry.db").exists()


def test_a_blob_whose_bytes_do_not_match_its_digest_is_refused_and_not_kept(
    team: TeamServer, tmp_path: Path
) -> None:
    token = team.token("jenkins", "register")
    data = b"model bytes" * 1000
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    status, body = call(team.port, "PUT", f"/api/v1/blobs/{wrong}", data, token=token)
    assert status == 422 and wrong in body["error"]
    assert call(team.port, "HEAD", f"/api/v1/blobs/{wrong}", token=token)[0] == 404
    right = "sha256:" + hashlib.sha256(data).hexdigest()
    assert call(team.port, "PUT", f"/api/v1/blobs/{right}", data, token=token)[0] == 201
    status, got = call(team.port, "GET", f"/api/v1/blobs/{right}", token=token)
    assert status == 200 and got == data


def test_an_upload_cut_off_half_way_leaves_no_blob_and_a_retry_succeeds(
    team: TeamServer, tmp_path: Path
) -> None:
    token = team.token("jenkins", "register")
    data = bytes(range(256)) * 8192  # 2 MiB
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with socket.create_connection(("127.0.0.1", team.port)) as sock:
        head = (
            f"PUT /api/v1/blobs/{digest} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[: len(data) // 2])
    status, _ = call(team.port, "HEAD", f"/api/v1/blobs/{digest}", token=token)
    assert status == 404
    deadline = time.monotonic() + 10  # the server notices the hang-up on its next read
    while leftovers := [p for p in (team.home / "artifacts").rglob("*") if p.is_file()]:
        assert time.monotonic() < deadline, f"left behind: {leftovers}"
        time.sleep(0.05)
    assert call(team.port, "PUT", f"/api/v1/blobs/{digest}", data, token=token)[0] == 201
    assert call(team.port, "HEAD", f"/api/v1/blobs/{digest}", token=token)[0] == 200


def test_listening_off_loopback_needs_tokens_and_warns_without_tls(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"SHIPYARD_HOME": str(home), "PATH": "/usr/bin:/bin"}
    refused = subprocess.run(
        [SHIPYARD, "server", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "without tokens" in refused.stderr
    server = TeamServer(home, extra=("--host", "0.0.0.0"))
    server.start()  # with a bootstrap token it starts
    try:
        assert "tokens travel in clear" in server.log()
    finally:
        server.stop()


def test_info_says_which_shipyard_a_command_talks_to_and_as_whom(
    team: TeamServer, tmp_path: Path
) -> None:
    alice = agent(team, tmp_path, "alice", "read")
    shown = alice.cli("info", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["mode"] == "team" and data["server"] == team.url
    assert data["identity"] == {"name": "alice", "scopes": ["read"]}


def test_postgres_going_down_is_a_503_with_the_reason_and_the_cli_says_what_to_check(
    tmp_path: Path,
) -> None:
    from postgres_helpers import PostgresUnavailable, start_postgres

    try:
        database = start_postgres()  # its own: this test stops it
    except PostgresUnavailable as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is needed under CI: {err}")
        pytest.skip(f"no PostgreSQL: {err}")
    try:
        team = TeamServer(tmp_path / "server-home", store=database.url(database.create_database()))
        team.start()
        try:
            alice = agent(team, tmp_path, "alice", "read")
            assert alice.cli("models", "list").returncode == 0
            database.stop()
            status, body = call(team.port, "GET", "/api/v1/models", token=BOOTSTRAP)
            assert status == 503 and f"127.0.0.1:{database.port}" in body["error"]
            assert body["hint"] and "password" not in body["error"]
            listed = alice.cli("models", "list")
            assert listed.returncode == 6, listed.stderr  # even the token check says so
            assert "127.0.0.1" in listed.stderr and "hint:" in listed.stderr
            assert "Traceback" not in listed.stderr
        finally:
            team.stop()
    finally:
        database.stop()


def test_a_server_on_postgres_and_the_s3_mock_keeps_blobs_where_agents_never_see_them(
    tmp_path: Path,
    postgres_url: str,
    moto_s3: MotoS3,
    s3_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint)  # the server's, not the agents'
    bucket = moto_s3.url()
    team = TeamServer(tmp_path / "server-home", store=postgres_url, artifacts=bucket)
    team.start()
    try:
        jenkins = agent(team, tmp_path, "jenkins", "register")
        env_without_aws = {k: v for k, v in jenkins.env.items() if not k.startswith("AWS_")}
        result = subprocess.run(
            [SHIPYARD, "register", str(model_dir(tmp_path, 7.0)), "--name", "echo",
             "--flavor", "custom", "--entrypoint", "model:Echo", "--json"],
            env=env_without_aws, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        version = json.loads(result.stdout)
        prefix = bucket.removeprefix(f"s3://{moto_s3.bucket}/")
        keys = moto_s3.keys(prefix)
        for artifact in version["artifacts"]:
            assert f"{prefix}/sha256/{artifact['digest'][7:9]}/{artifact['digest'][9:]}" in keys
        assert not (team.home / "artifacts").exists()
        out = tmp_path / "back"
        got = subprocess.run(
            [SHIPYARD, "models", "download", "echo", "1", "--out", str(out)],
            env=env_without_aws, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert "7.0" in (out / "model.py").read_text()
    finally:
        team.stop()


def test_the_server_serves_https_with_its_own_certificate_and_clients_trust_a_private_ca(
    tmp_path: Path,
) -> None:
    import http.client
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(tmp_path / "home"),
        "SHIPYARD_SERVER_TOKEN": BOOTSTRAP,
    }
    env.pop("SHIPYARD_SERVER", None)
    server = subprocess.Popen(
        [SHIPYARD, "server", "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
                conn.request(
                    "GET", "/api/v1/info", headers={"authorization": f"Bearer {BOOTSTRAP}"}
                )
                assert conn.getresponse().status == 200
                break
            except (ConnectionRefusedError, ConnectionResetError):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        client_env = {
            **env,
            "SHIPYARD_SERVER": f"https://127.0.0.1:{port}",
            "SHIPYARD_TOKEN": BOOTSTRAP,
            "SHIPYARD_HOME": str(tmp_path / "agent"),
        }
        trusted = subprocess.run(
            [SHIPYARD, "info", "--json"], env={**client_env, "SHIPYARD_CA_CERT": str(cert)},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert trusted.returncode == 0, trusted.stderr
        assert json.loads(trusted.stdout)["server"].startswith("https://")
        untrusted = subprocess.run(
            [SHIPYARD, "models", "list"], env=client_env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert untrusted.returncode == 11 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
