"""The Helm chart of a model version, rendered by a real helm 4 (scripts/helm.sh): it lints,
every object is valid for Kubernetes, and for each setting ``helm template`` gives exactly the
objects ``shipyard export kubernetes`` gives; a value of the wrong type is refused by name."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deploy_helpers import echo_home
from shipyard.errors import InvalidInputError
from shipyard.expressions.alert_rules import AlertRule, alert_rule
from shipyard.k8s.helm import MONITORING_API, chart_files, values, write_chart
from shipyard.k8s.manifests import Settings, check_quantity, objects, split
from shipyard.refs import parse_ref
from shipyard.registry import resolve
from shipyard.store import ModelVersion, open_stores
from test_k8s_manifests import KUBERNETES
from test_serving import SHIPYARD

ROOT = Path(__file__).resolve().parent.parent
RULES = [alert_rule("HighErrorRate", "error_rate > 0.02", for_=120, actions=("rollback",))]
NAMESPACE = "models"


@pytest.fixture(scope="session")
def helm() -> str:
    """A real helm binary, fetched once by scripts/helm.sh (a failure, not a skip, in CI)."""
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "helm.sh")], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        message = f"scripts/helm.sh could not fetch helm:\n{done.stderr}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return echo_home(tmp_path_factory.mktemp("helm"))


def version(home: Path, number: int, commit: str | None = None) -> ModelVersion:
    stores = open_stores(home)
    try:
        found = resolve(stores, parse_ref(f"echo:{number}"))
    finally:
        stores.close()
    if commit is None:
        return found
    return dataclasses.replace(found, lineage=dataclasses.replace(found.lineage, git_commit=commit))


def template(
    helm: str, chart: Path, *args: str, operator_api: bool = True
) -> subprocess.CompletedProcess[str]:
    """``helm template`` as a release in NAMESPACE; ``operator_api``: the cluster serves the
    Prometheus Operator's API."""
    api = ["--api-versions", MONITORING_API] if operator_api else []
    command = [helm, "template", "echo", str(chart), "--namespace", NAMESPACE, *api, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def rendered(helm: str, chart: Path, *args: str, operator_api: bool = True) -> list[dict[str, Any]]:
    done = template(helm, chart, *args, operator_api=operator_api)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def ordered(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects in a fixed order (helm orders them by kind); dicts compare unordered anyway."""
    return sorted(documents, key=lambda d: (d["kind"], d["metadata"]["name"]))


def assert_same(chart: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    chart, expected = ordered(chart), ordered(expected)
    assert [(d["kind"], d["metadata"]["name"]) for d in chart] == [
        (d["kind"], d["metadata"]["name"]) for d in expected
    ]
    for got, want in zip(chart, expected, strict=True):
        assert got == want, f"{got['kind']} {got['metadata']['name']} differs"


# Settings the chart must render exactly as manifests.objects() does.
CASES: dict[str, tuple[Settings, int, int | None, list[AlertRule], bool]] = {
    # name: (settings, version, canary version or None, rules, operator)
    "plain": (Settings("echo", "registry.example/echo:{version}"), 1, None, RULES, True),
    "canary 25 %": (Settings("echo", "registry.example/{model}:{version}", replicas=4), 1, 2,
                    RULES, True),
    "operator off": (Settings("echo", "shipyard/{model}:{version}"), 3, None, RULES, False),
    "no rules": (Settings("echo", "shipyard/{model}:{version}"), 3, None, [], True),
    "custom resources and replicas": (
        Settings("echo-prod", "registry.example:5000/ml/echo:v{version}", replicas=5,
                 max_replicas=12, cpu="250m", memory="512Mi", cpu_limit="2", memory_limit="1Gi",
                 target_cpu=55, extra_labels={"team": "ml", "tier": "gold"}),
        4, 5, RULES, True,
    ),
}  # fmt: skip


def case(home: Path, name: str) -> tuple[Settings, ModelVersion, Any, list[AlertRule], bool]:
    settings, number, canary, rules, operator = CASES[name]
    chosen = version(home, number, commit="3f2a9c1" if name.startswith("custom") else None)
    with_canary = (version(home, canary, commit="77e0b42"), 25) if canary else None
    return settings, chosen, with_canary, rules, operator


@pytest.mark.parametrize("name", list(CASES))
def test_the_chart_renders_the_objects_of_export_kubernetes(
    helm: str, home: Path, tmp_path: Path, name: str
) -> None:
    settings, chosen, canary, rules, operator = case(home, name)
    write_chart(tmp_path / "chart", settings, chosen, canary=canary, rules=rules, operator=operator)
    in_namespace = dataclasses.replace(settings, namespace=NAMESPACE)  # a release's namespace
    expected = objects(in_namespace, chosen, canary=canary, rules=rules, operator=operator)
    chart = rendered(helm, tmp_path / "chart")
    assert_same(chart, expected)
    for document in chart:
        if not document["apiVersion"].startswith("monitoring.coreos.com"):
            kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_lint_passes_and_the_monitoring_objects_need_the_operators_api(
    helm: str, home: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "chart"
    settings, chosen, canary, rules, _ = case(home, "canary 25 %")
    write_chart(chart, settings, chosen, canary=canary, rules=rules)
    linted = subprocess.run([helm, "lint", "--strict", str(chart)], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # a cluster without the Prometheus Operator gets no ServiceMonitor nor PrometheusRule
    in_namespace = dataclasses.replace(settings, namespace=NAMESPACE)
    expected = objects(in_namespace, chosen, canary=canary, rules=rules, operator=False)
    assert_same(rendered(helm, chart, operator_api=False), expected)


def test_values_set_at_install_render_as_the_matching_export(
    helm: str, home: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "chart"
    settings, chosen, canary, rules, _ = case(home, "canary 25 %")
    write_chart(chart, settings, chosen, canary=canary, rules=rules)
    plain = rendered(helm, chart, "--set", "canary.enabled=false")
    assert_same(plain, objects(dataclasses.replace(settings, namespace=NAMESPACE), chosen,
                               rules=rules))  # fmt: skip
    changed = rendered(helm, chart, "--set", "replicas=3,autoscaling.maxReplicas=9",
                       "--set", "resources.requests.cpu=250m,resources.limits.memory=2Gi",
                       "--set", "canary.weight=50,labels.team=ml")  # fmt: skip
    expected = Settings("echo", settings.image, NAMESPACE, replicas=3, max_replicas=9, cpu="250m",
                        memory_limit="2Gi", extra_labels={"team": "ml"})  # fmt: skip
    assert_same(changed, objects(expected, chosen, canary=(canary[0], 50), rules=rules))
    off = rendered(helm, chart, "--set", "autoscaling.enabled=false")
    assert "HorizontalPodAutoscaler" not in {d["kind"] for d in off}


def test_a_canary_takes_whole_pods_as_manifests_split_does(
    helm: str, home: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "chart"
    settings, chosen, canary, rules, _ = case(home, "canary 25 %")
    write_chart(chart, settings, chosen, canary=canary, rules=rules)
    # halves round to even there (Python's round): 10 x 25 % is 2 canary pods, 3 x 50 % is 2
    for replicas, weight in [(10, 25), (3, 50), (2, 10), (1, 50), (7, 15), (6, 75), (4, 99)]:
        documents = rendered(helm, chart, "--set", f"replicas={replicas},canary.weight={weight}",
                             "--set", "autoscaling.maxReplicas=10")  # fmt: skip
        pods = {d["metadata"]["labels"]["shipyard.dev/track"]: d["spec"]["replicas"]
                for d in documents if d["kind"] == "Deployment"}  # fmt: skip
        assert (pods["stable"], pods["canary"]) == split(replicas, weight), (replicas, weight)


@pytest.mark.parametrize(
    ("setting", "words", "schema"),
    [
        # values.schema.json: helm lint, template and install refuse these
        ("replicas=two", ["/replicas", "got string, want integer"], True),
        ("resources.requests.cpu=fast", ["/resources/requests/cpu", "'fast' does not match"], True),
        ("canary.weight=0", ["/canary/weight", "minimum"], True),
        ("autoscaling.enabled=yes", ["/autoscaling/enabled", "want boolean"], True),
        ("replica=3", ["additional properties 'replica' not allowed"], True),
        ("labels.team=42", ["/labels/team", "want string"], True),
        # the templates' `fail` (which helm lint only reports): template and install refuse these
        ("replicas=9", ["replicas 9 and autoscaling.maxReplicas 6: expected 1 <= replicas"], False),
        ("image.tag=latest", ["names no version, so the canary would run the stable image"], False),
        ("canary.digest=", ["canary.enabled needs canary.version and canary.digest"], False),
    ],
)
def test_a_value_of_the_wrong_type_or_range_is_refused_by_name(
    helm: str, home: Path, tmp_path: Path, setting: str, words: list[str], schema: bool
) -> None:
    chart = tmp_path / "chart"
    settings, chosen, canary, rules, _ = case(home, "canary 25 %")
    write_chart(chart, settings, chosen, canary=canary, rules=rules)
    commands = [["template", "echo"], ["install", "echo", "--dry-run=client"]]
    if schema:
        commands.append(["lint"])
    for command in commands:
        done = subprocess.run([helm, *command, str(chart), "--set", setting],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode != 0, (command, done.stdout)
        for word in words:
            assert word in done.stdout + done.stderr, (command, done.stdout + done.stderr)


def test_values_yaml_and_chart_yaml_say_what_the_chart_serves(home: Path, tmp_path: Path) -> None:
    settings, chosen, canary, rules, operator = case(home, "custom resources and replicas")
    write_chart(tmp_path, settings, chosen, canary=canary, rules=rules, operator=operator)
    written = yaml.safe_load((tmp_path / "values.yaml").read_text())
    assert written == values(settings, chosen, canary=canary, rules=rules, operator=operator)
    assert written["image"] == {"repository": "registry.example:5000/ml/echo", "tag": "v{version}"}
    assert written["model"]["commit"] == "3f2a9c1"
    chart = yaml.safe_load((tmp_path / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "echo-prod"
    assert (chart["version"], chart["appVersion"]) == ("4.0.0", "4")
    assert {p.name for p in (tmp_path / "templates").iterdir()} >= {"_helpers.tpl", "NOTES.txt"}
    assert (tmp_path / ".helmignore").is_file()


def test_the_schema_takes_the_quantities_manifests_takes() -> None:
    schema = json.loads(chart_files().joinpath("values.schema.json").read_text())
    for definition in ("quantity", "quantityOrNull"):
        validator = jsonschema.Draft7Validator(schema["definitions"][definition])
        for text in ["500m", "2", "0.5", ".5", "1Gi", "512Mi", "3E", "fast", "-1", "1.", "1gi",
                     "", "1 Gi", "1e3", "2Gb"]:  # fmt: skip
            try:
                check_quantity(text, "cpu")
                accepted = True
            except InvalidInputError:
                accepted = False
            assert validator.is_valid(text) == accepted, text


def run(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"SHIPYARD_HOME": str(home), "PATH": str(Path(SHIPYARD).parent) + ":/usr/bin:/bin"}
    return subprocess.run([SHIPYARD, *args], env=env, capture_output=True, text=True, cwd=cwd)


PROJECT = """\
model:
  name: echo
train:
  command: python train.py
monitor:
  alerts:
    - name: HighErrorRate
      when: error_rate > 0.02
      for: 2m
      actions: [rollback]
"""


def test_export_helm_in_a_project_gives_the_objects_export_kubernetes_writes(
    helm: str, home: Path, tmp_path: Path
) -> None:
    (tmp_path / "shipyard.yaml").write_text(PROJECT)
    done = run(home, "export", "helm", "echo", "--out", "deploy/chart",
               "--canary-version", "2", "--canary-weight", "50", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "helm install echo deploy/chart" in done.stdout
    exported = run(home, "export", "kubernetes", "echo", "--version", "5", "--out", "k8s",
                   "--canary-version", "2", "--canary-weight", "50", "--namespace", NAMESPACE,
                   cwd=tmp_path)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    files = yaml.safe_load((tmp_path / "k8s" / "kustomization.yaml").read_text())["resources"]
    expected = [yaml.safe_load((tmp_path / "k8s" / f).read_text()) for f in files]
    assert "PrometheusRule" in {d["kind"] for d in expected}  # the project's alert rules
    assert_same(rendered(helm, tmp_path / "deploy" / "chart"), expected)


def test_export_helm_serves_production_else_the_latest_and_refuses_bad_input(
    home: Path, tmp_path: Path
) -> None:
    def served(*args: str) -> int:
        done = run(home, "export", "helm", "echo", *args, "--out", "chart", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        written = yaml.safe_load((tmp_path / "chart" / "values.yaml").read_text())
        return int(written["model"]["version"])

    assert served() == 5  # no production alias: the latest
    assert run(home, "alias", "set", "echo", "production", "3", cwd=tmp_path).returncode == 0
    assert served() == 3
    assert served("-v", "2") == 2

    for args, code, words in [
        (["nope"], 4, "unknown model 'nope'"),
        (["echo", "--version", "42"], 4, "has no version 42"),
        (["echo", "--canary-version", "42"], 4, "has no version 42"),
        (["echo", "--cpu", "fast"], 2, "'fast' is not a Kubernetes quantity"),
        (["echo", "--canary-version", "2", "--canary-weight", "0"], 2, "canary weight 0"),
        (["echo", "--canary-version", "2", "--image", "registry.example/echo:latest"], 2,
         "names no version"),
        (["echo", "--name", "Echo_Prod"], 2, "invalid deployment name"),
    ]:  # fmt: skip
        done = run(home, "export", "helm", *args, "--out", "bad", cwd=tmp_path)
        assert done.returncode == code and words in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "bad").exists()  # nothing written for refused input
