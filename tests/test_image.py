"""`shipyard image build`: a registered version's image, built for real by podman.

One module-wide build serves most assertions: two digits versions trained from the
same code (only ``C`` differs) are registered by the pipeline and built with the
command as a user types it; the image then serves, is pushed to a real registry on
loopback and inspected with skopeo, and is rebuilt. See ``container_helpers`` for the
podman set-up (no Docker engine here) and the local base image.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Result, committed_project
from container_helpers import (
    BASE_IMAGE,
    SHIPYARD,
    Containers,
    digits_project,
    free_port,
    local_registry,
    register_digits,
    start_containers,
)
from shipyard import __version__
from shipyard.images.builders import Builder, is_loopback, registry_host
from shipyard.images.wheel import write_wheel
from shipyard.pins import pin_closure
from shipyard.registry import RegisterOptions, register
from shipyard.store import ModelVersion, open_stores

Cli = Callable[..., Result]

# The first image of sklearn's digits (a 0), as the example's verify step sends it.
ZERO = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
        0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
        0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]  # fmt: skip


@dataclass
class Built:
    """The module's shared build: two versions of one code, their commits and images."""

    containers: Containers
    home: Path
    commits: dict[int, str]
    layers: dict[int, list[str]]
    output: str  # what `shipyard image build digits:1` printed

    def version(self, number: int) -> ModelVersion:
        stores = open_stores(self.home)
        try:
            return stores.metadata.get_version("digits", number)
        finally:
            stores.close()

    def shipyard(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SHIPYARD, *args], env=self.containers.env, capture_output=True, text=True
        )


def build(built: Built | Containers, ref: str, *extra: str) -> str:
    containers = built.containers if isinstance(built, Built) else built
    return containers.run(SHIPYARD, "image", "build", ref, "--base-image", BASE_IMAGE, *extra)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Containers, Path]]:
    """One podman store for this module's images, the base image loaded once: the model's
    and the control plane's images share their Shipyard layers, built once."""
    tmp = tmp_path_factory.mktemp("image")
    containers = start_containers(tmp / "containers", tmp / "home")
    try:
        yield containers, tmp
    finally:
        containers.cleanup()


@pytest.fixture(scope="module")
def built(store: tuple[Containers, Path]) -> Built:
    containers, tmp = store
    home = tmp / "home"
    project = digits_project(tmp / "digits")
    commits = {1: register_digits(containers, project, 0.1)}
    output = build(containers, "digits:1")
    commits[2] = register_digits(containers, project, 0.2)
    build(containers, "digits:2")
    layers = {n: containers.layers(f"shipyard/digits:{n}") for n in (1, 2)}
    return Built(containers, home, commits, layers, output)


def test_the_image_serves_the_version_over_v2_as_a_non_root_user(built: Built) -> None:
    containers, port = built.containers, free_port()
    served, default = "served", "default"
    containers.run(
        "podman", "run", "--detach", "--name", served, "--network", "host",
        "shipyard/digits:1",
        "shipyard", "serve", "/srv/bundle", "--host", "127.0.0.1", "--port", str(port),
    )  # fmt: skip
    # The image's own command and health check, on port 8000 in a network of its own.
    containers.run(
        "podman", "run", "--detach", "--name", default, "--network", "none", "shipyard/digits:1"
    )
    try:
        base = f"http://127.0.0.1:{port}"
        containers.wait_ready(f"{base}/v2/health/ready", served)
        model = httpx.get(f"{base}/v2/models/digits").json()
        assert model["versions"] == ["1"]  # the registered number, not a bundle's "1" default
        body = {"inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP32",
                            "data": ZERO}]}  # fmt: skip
        answer = httpx.post(f"{base}/v2/models/digits/infer", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [0]
        assert containers.run("podman", "exec", served, "id", "-u").strip() == "10001"
        assert containers.inspect("shipyard/digits:1")["Config"]["User"] == "10001"
        deadline = time.monotonic() + 90
        check = ["podman", "healthcheck", "run", default]
        while subprocess.run(check, env=containers.env, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, containers.run("podman", "logs", default)
            time.sleep(1)
        health = containers.run("podman", "inspect", default, "--format", "{{json .State.Health}}")
        assert json.loads(health)["Status"] == "healthy"
    finally:
        containers.run("podman", "rm", "--force", served, default, check=False)


def test_a_new_model_on_the_same_code_reuses_every_layer_but_the_models(built: Built) -> None:
    first, second = built.layers[1], built.layers[2]
    assert len(first) == len(second) >= 5
    assert first[:-1] == second[:-1]
    assert first[-1] != second[-1]


def test_rebuilding_a_version_gives_the_same_model_layer(built: Built) -> None:
    containers = built.containers
    # Removing v1's image removes its own layers (v2 keeps the shared ones), so the model
    # layer is made again, from a context written again, not taken from the cache.
    containers.run("podman", "rmi", "shipyard/digits:1")
    assert not containers.run("podman", "images", "--quiet", "shipyard/digits:1").strip()
    build(built, "digits:1")
    assert containers.layers("shipyard/digits:1") == built.layers[1]


def test_buildah_builds_the_same_layers_as_podman(built: Built) -> None:
    tag = "localhost/bud/{model}:{version}"
    out = build(built, "digits:2", "--builder", "buildah", "--tag", tag)
    assert "with buildah" in out
    assert built.containers.layers("localhost/bud/digits:2") == built.layers[2]


def test_push_to_a_registry_on_loopback_with_the_versions_lineage_as_labels(
    built: Built, tmp_path: Path
) -> None:
    with local_registry(tmp_path / "registry") as registry:
        out = build(built, "digits:1", "--tag", f"{registry}/{{model}}:{{version}}", "--push")
        reference = f"docker://{registry}/digits:1"
        remote = json.loads(
            built.containers.run("skopeo", "inspect", "--tls-verify=false", reference)
        )
        manifest = json.loads(
            built.containers.run("skopeo", "inspect", "--raw", "--tls-verify=false", reference)
        )
        # The config blob as pushed (skopeo's --config rewrites it as OCI, without a health check).
        blob = f"http://{registry}/v2/digits/blobs/{manifest['config']['digest']}"
        config = httpx.get(blob, timeout=10).json()
    assert f"pushed as {remote['Digest']}" in " ".join(out.split())
    version = built.version(1)
    labels: dict[str, Any] = remote["Labels"]
    assert labels["org.opencontainers.image.revision"] == built.commits[1]
    assert labels["org.opencontainers.image.version"] == "1"
    assert labels["org.opencontainers.image.created"] == version.created_at
    assert labels["io.shipyard.model.content-digest"] == version.content_digest
    assert labels["io.shipyard.bundle.digest"] == version.tags["shipyard.bundle"]
    assert len(remote["Layers"]) == len(built.layers[1])
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert config["config"]["User"] == "10001"
    assert config["config"]["Healthcheck"]["Test"][0] == "CMD"
    assert config["created"].startswith(version.created_at[:19])  # --timestamp


def test_the_build_output_is_streamed_and_names_the_builder(built: Built) -> None:
    assert "building shipyard/digits:1 from digits v1 with podman" in built.output
    assert "STEP" in built.output  # podman's own lines, passed on
    assert "built shipyard/digits:1 (image sha256:" in built.output


def test_a_builder_failure_exits_non_zero_with_its_last_lines(built: Built) -> None:
    proc = built.shipyard("image", "build", "digits:1", "--base-image", "localhost/nope:1")
    assert proc.returncode == 1
    assert "error: building shipyard/digits:1 failed (podman exited" in proc.stderr
    assert "nope" in proc.stderr  # the builder's own words about it
    assert "Traceback" not in proc.stderr


# --- bad input, without containers ----------------------------------------------------


@pytest.fixture
def by_hand(home: Path, tmp_path: Path) -> Path:
    """A home with ``digits`` v1 registered by hand: a model file, no bundle."""
    model = tmp_path / "model.skops"
    model.write_bytes(b"not really a model")
    stores = open_stores(home)
    register(stores, model, "digits", RegisterOptions(flavor="sklearn", infer_signature=False))
    stores.close()
    return home


def test_an_unknown_version_exits_4(cli: Cli, by_hand: Path) -> None:
    result = cli("image", "build", "digits:9")
    assert result.code == 4
    assert "error:" in result.err and "9" in result.err


def test_a_version_without_a_bundle_says_how_to_make_one(cli: Cli, by_hand: Path) -> None:
    result = cli("image", "build", "digits:1")
    assert result.code == 4
    assert "digits:1 has no bundle" in result.err
    assert "shipyard run" in result.err


def test_no_builder_on_path_names_podman_buildah_and_docker(
    cli: Cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = committed_project(
        tmp_path / "toy",
        {
            "shipyard.yaml": "model: {name: toy, flavor: custom, path: model, entrypoint: "
            "model:Toy}\ntrain: {command: python train.py}\n",
            "train.py": "import pathlib\npathlib.Path('model').mkdir(exist_ok=True)\n"
            "pathlib.Path('model/model.py').write_text('class Toy: pass\\n')\n",
        },
    )
    monkeypatch.chdir(project)
    assert cli("run").code == 0
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = cli("image", "build", "toy:1")
    assert result.code == 1
    assert "podman, buildah or docker" in result.err
    assert "apt-get install podman" in result.err
    assert "Traceback" not in result.err
    named = cli("image", "build", "toy:1", "--builder", "buildah")
    assert named.code == 1 and "buildah is not installed" in named.err


@pytest.mark.parametrize(
    ("pins", "dockerfile", "says"),
    [
        (["shipyard==0.0.1"], "COPY wheels/ /tmp/wheels/\n", "packaged with shipyard==0.0.1"),
        ([f"shipyard=={__version__}"], "COPY --from=dependencies /install /usr/local\n",
         "packaged by an earlier Shipyard"),
    ],
)  # fmt: skip
def test_a_bundle_this_shipyard_cannot_build_is_refused_with_what_to_do(
    cli: Cli, home: Path, tmp_path: Path, pins: list[str], dockerfile: str, says: str
) -> None:
    stores = open_stores(home)
    files = {"Dockerfile": stores.artifacts.put_bytes(dockerfile.encode()).digest}
    manifest = {"format": "shipyard.bundle/1", "name": "digits", "requirements": pins,
                "files": files}  # fmt: skip
    bundle = stores.artifacts.put_bytes(json.dumps(manifest).encode()).digest
    model = tmp_path / "model.skops"
    model.write_bytes(b"not really a model")
    tags = {"shipyard.bundle": bundle}
    options = RegisterOptions(flavor="sklearn", infer_signature=False, tags=tags)
    register(stores, model, "digits", options)
    stores.close()
    result = cli("image", "build", "digits:1")
    assert result.code == 1
    assert says in result.err and "shipyard run" in result.err


def test_push_needs_a_tag_that_names_a_registry(cli: Cli, by_hand: Path) -> None:
    result = cli("image", "build", "digits:1", "--push")
    assert result.code == 2
    assert "names no registry" in result.err and "--tag registry.example/" in result.err


# --- the pieces ------------------------------------------------------------------------


def test_registry_hosts_and_loopback() -> None:
    assert registry_host("shipyard/digits:1") is None
    assert registry_host("digits:1") is None
    assert registry_host("registry.example/team/digits:1") == "registry.example"
    assert registry_host("127.0.0.1:5000/digits:1") == "127.0.0.1:5000"
    assert registry_host("localhost/digits") == "localhost"
    assert all(map(is_loopback, ["127.0.0.1:5000", "localhost", "localhost:5000", "[::1]:5000"]))
    assert not any(map(is_loopback, ["registry.example", "10.0.0.2:5000", "[fe80::1]:80"]))


def test_each_builder_builds_reproducibly_and_pushes_by_its_own_means(tmp_path: Path) -> None:
    args = {"MODEL_VERSION": "4"}
    iid = tmp_path / "iid"
    podman = Builder("podman", "/usr/bin/podman").build_command(tmp_path, "t:4", 7, args, iid)
    assert podman[:2] == ["/usr/bin/podman", "build"]
    assert {"--timestamp=7", "--format", "docker", "--build-arg=MODEL_VERSION=4"} <= set(podman)
    buildah = Builder("buildah", "/usr/bin/buildah").build_command(tmp_path, "t:4", 7, args, iid)
    assert buildah[1] == "bud" and "--layers" in buildah and "--timestamp=7" in buildah
    docker = Builder("docker", "/usr/bin/docker").build_command(tmp_path, "t:4", 7, args, iid)
    assert "--build-arg=SOURCE_DATE_EPOCH=7" in docker and "--timestamp=7" not in docker
    push = Builder("podman", "podman").push_command("127.0.0.1:5000/d:4", True, tmp_path / "d")
    assert "--tls-verify=false" in push
    assert Builder("docker", "docker").push_command("r.example/d:4", False, tmp_path) == [
        "docker",
        "push",
        "r.example/d:4",
    ]


def test_the_shipyard_wheel_is_the_same_bytes_every_time(tmp_path: Path) -> None:
    first = write_wheel(tmp_path / "a").read_bytes()
    os.utime(Path(__file__))  # mtimes do not enter the wheel
    assert write_wheel(tmp_path / "b").read_bytes() == first


def test_the_bundle_pins_shipyards_serving_dependencies_and_theirs() -> None:
    pins = pin_closure(["shipyard[serve]", "scikit-learn"])
    names = {pin.split("==")[0].lower().replace("_", "-") for pin in pins}
    assert {"shipyard", "uvicorn", "starlette", "prometheus-client", "typer", "pydantic"} <= names
    assert {"click", "h11", "joblib", "threadpoolctl", "scipy"} <= names  # their dependencies
    assert "pytest" not in names  # only what the packages asked for need
    assert all("==" in pin for pin in pins)


# --- the control plane's image (`shipyard image build --control-plane`) -----------------


def test_the_control_plane_context_pins_the_server_extras_and_runs_as_10001(
    tmp_path: Path,
) -> None:
    from shipyard.images.control_plane import COMMAND, write_control_plane_context

    context = write_control_plane_context(tmp_path / "context")
    dockerfile = (context.path / "Dockerfile").read_text()
    assert "\nUSER 10001\n" in dockerfile
    assert f"\nCMD {json.dumps(COMMAND)}\n" in dockerfile
    assert COMMAND == ["shipyard", "server", "--host", "0.0.0.0", "--port", "7700"]
    assert f'org.opencontainers.image.version="{__version__}"' in dockerfile
    assert 'io.shipyard.extras="serve,kubernetes,postgres,s3"' in dockerfile
    pins = (context.path / "requirements.txt").read_text().split()
    names = {pin.split("==")[0].lower().replace("_", "-") for pin in pins}
    assert {"uvicorn", "starlette", "prometheus-client", "kubernetes", "psycopg", "boto3"} <= names
    assert "shipyard" not in names  # Shipyard comes from its wheel, in a layer of its own
    assert [p.name for p in (context.path / "wheels").iterdir()] == [
        f"shipyard-{__version__}-py3-none-any.whl"
    ]
    assert {int(p.stat().st_mtime) for p in context.path.rglob("*")} == {context.timestamp}


def test_image_build_takes_a_version_or_the_control_plane(cli: Cli, home: Path) -> None:
    both = cli("image", "build", "digits:1", "--control-plane")
    assert both.code == 2 and "not both" in both.err
    neither = cli("image", "build")
    assert neither.code == 2 and "NAME:VERSION" in neither.err
    braces = cli("image", "build", "--control-plane", "--tag", "r.example/{model}:{version}")
    assert braces.code == 2 and "only placeholder is {version}" in braces.err


@pytest.fixture(scope="module")
def control_plane(store: tuple[Containers, Path]) -> tuple[Containers, str]:
    """The control plane's image, built once by the command as a user types it."""
    containers, _ = store
    out = containers.run(SHIPYARD, "image", "build", "--control-plane",
                         "--base-image", BASE_IMAGE)  # fmt: skip
    assert f"built shipyard/control-plane:{__version__}" in out
    return containers, f"shipyard/control-plane:{__version__}"


def test_the_control_plane_image_serves_as_10001_on_a_read_only_root(
    control_plane: tuple[Containers, str],
) -> None:
    containers, image = control_plane
    config = containers.inspect(image)["Config"]
    assert config["User"] == "10001"
    assert config["Cmd"] == ["shipyard", "server", "--host", "0.0.0.0", "--port", "7700"]
    assert config["Labels"]["org.opencontainers.image.version"] == __version__
    # as the chart runs it: read-only root, SHIPYARD_HOME and /tmp on volumes of their own,
    # no capabilities; its own network, so the API is asked from inside
    name, token = "control-plane", "a-bootstrap-token-for-the-test"
    containers.run(
        "podman", "run", "--detach", "--name", name, "--network", "none", "--read-only",
        "--mount", "type=tmpfs,destination=/var/lib/shipyard,U=true", "--tmpfs", "/tmp",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--env", f"SHIPYARD_SERVER_TOKEN={token}", image,
    )  # fmt: skip
    ask = (
        "import json, sys, time, urllib.request as u\n"
        "r = u.Request('http://127.0.0.1:7700/api/v1/info',"
        f" headers={{'Authorization': 'Bearer {token}'}})\n"
        "for _ in range(120):\n"
        "    try: print(json.dumps(json.load(u.urlopen(r, timeout=2)))); sys.exit(0)\n"
        "    except OSError: time.sleep(0.5)\n"
        "sys.exit(1)\n"
    )
    try:
        proc = subprocess.run(["podman", "exec", name, "python", "-c", ask],
                              env=containers.env, capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            logs = subprocess.run(["podman", "logs", name], env=containers.env,
                                  capture_output=True, text=True)  # fmt: skip
            raise AssertionError(f"no answer from the server:\n{logs.stdout}{logs.stderr}")
        info = json.loads(proc.stdout)
        assert info["version"] == __version__ and info["home"] == "/var/lib/shipyard"
        assert containers.run("podman", "exec", name, "id", "-u").strip() == "10001"
    finally:
        containers.run("podman", "rm", "--force", name, check=False)
