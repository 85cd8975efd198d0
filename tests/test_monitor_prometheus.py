"""`shipyard export grafana`: every panel's query, run by a real Prometheus that scraped a real
deployment under real traffic (errors and a shadow version included), returns data."""

from __future__ import annotations

import json
import math
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import skops.io
import yaml
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LinearRegression
from sklearn.naive_bayes import GaussianNB

from deploy_helpers import ControlPlane, free_port
from prometheus_helpers import Prometheus, start_prometheus
from shipyard.expressions.prometheus_rules import RULES_FILE
from shipyard.monitor.grafana import (
    DASHBOARD_FILE,
    DATASOURCE_FILE,
    DATASOURCE_UID,
    PROVIDER_FILE,
    panels,
)
from shipyard.reference_summary import summarize
from shipyard.registry import RegisterOptions, register
from shipyard.store import open_stores
from test_serving import SHIPYARD

# Each version answers its own number, batches, and fails a batch holding a negative input.
MODEL = """
class Demand:
    batchable = True
    signature = {{"inputs": [{{"name": "x", "datatype": "FP64", "shape": [-1, 1]}}],
                 "outputs": [{{"name": "y", "datatype": "FP64", "shape": [-1, 1]}}]}}

    def load(self, path):
        pass

    def predict(self, x):
        if any(row[0] < 0 for row in x):
            raise ValueError("negative demand")
        return [[{value}] for _ in x]
"""
NEEDS_DRIFT_AND_FEEDBACK = ("Drift (PSI per feature)", "Live accuracy", "Live MAE")
SPEC = """\
model:
  name: demand
train:
  command: python train.py
monitor:
  alerts:
    - name: HighErrorRate
      when: error_rate > 5%
      window: 1m
"""
VARIABLES = {"deployment": "demand", "window": "1h", "__rate_interval": "1m"}


def _needs_drift_or_feedback(title: str) -> bool:
    return title.startswith(NEEDS_DRIFT_AND_FEEDBACK)


def demand_home(tmp: Path) -> Path:
    """A home holding model ``demand`` v1 … v3."""
    home = tmp / "home"
    stores = open_stores(home)
    try:
        for number in (1, 2, 3):
            source = tmp / f"demand-{number}"
            source.mkdir()
            (source / "model.py").write_text(MODEL.format(value=float(number)))
            options = RegisterOptions(flavor="custom", entrypoint="model:Demand")
            register(stores, source, "demand", options)
    finally:
        stores.close()
    return home


@dataclass
class Scraped:
    """A deployment under traffic, the Prometheus scraping it, and the exported files."""

    prometheus: Prometheus
    files: Path
    rules: Path

    @property
    def dashboard(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.files / DASHBOARD_FILE).read_text())
        return loaded


def _traffic(port: int, stop: threading.Event) -> None:
    """Predictions until ``stop``; every fifth one is negative and answered 500."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            value = -1.0 if n % 5 == 0 else 1.0
            client.post("/v1/models/demand:predict", json={"instances": [[value]]})
            stop.wait(0.01)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    tmp = tmp_path_factory.mktemp("grafana")
    cp = ControlPlane(demand_home(tmp), free_port())
    cp.start()
    stop = threading.Event()
    try:
        port = free_port()
        deployed = cp.cli("deploy", "demand", "--version", "1", "--port", str(port))
        assert deployed.returncode == 0, deployed.stderr
        split = cp.cli("traffic", "demand", "1=70,2=30", "--shadow", "3=100")
        assert split.returncode == 0, split.stderr
        cp.wait_for(lambda s: s["in_sync"] and s["desired"]["shadow"] == {"3": 100}, name="demand")
        # a project whose alert is drawn on the error-rate panel and fires on the 20 % of 500s
        project = tmp / "project"
        project.mkdir()
        (project / "shipyard.yaml").write_text(SPEC)
        for command in (
            ["prometheus", "--out", "deploy", "--target", f"127.0.0.1:{port}"],
            ["grafana", "--out", "grafana"],
        ):
            exported = subprocess.run(
                [SHIPYARD, "export", *command],
                cwd=project,
                env=cp.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert exported.returncode == 0, exported.stderr
        assert "wrote " in exported.stdout and "provisioning" in exported.stdout
        rules = project / "deploy" / RULES_FILE
        traffic = threading.Thread(target=_traffic, args=(port, stop), daemon=True)
        traffic.start()
        with start_prometheus(tmp, [f"127.0.0.1:{port}"], [rules]) as prometheus:
            # rates need two scrapes with traffic between them; the alert one evaluation
            prometheus.wait_for("rate(shipyard_shadow_requests_total[1m]) > 0")
            prometheus.wait_for('rate(shipyard_requests_total{code="500"}[1m]) > 0')
            prometheus.wait_for('ALERTS{alertstate="firing"}')
            yield Scraped(prometheus, project / "grafana", rules)
    finally:
        stop.set()
        cp.cleanup()


def substitute(expr: str, variables: dict[str, str] = VARIABLES) -> str:
    """What Grafana sends for ``expr``: ``$name`` and ``${name}`` of the known variables
    replaced (``${1}`` in a ``label_replace`` is not a variable and stays)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def _check_panel(scraped: Scraped, title: str) -> None:
    panel = next(p for p in scraped.dashboard["panels"] if p["title"] == title)
    assert panel["targets"], title
    for target in panel["targets"]:
        expr = substitute(target["expr"])
        assert "$" not in expr.replace("${1}", ""), f"{title}: a variable left in {expr}"
        result = scraped.prometheus.query(expr)  # PromQLError when it is not valid PromQL
        assert result, f"{title} ({target['refId']}): no series for {expr}"


TITLES = [p.title for p in panels()]


@pytest.mark.parametrize("title", [t for t in TITLES if not _needs_drift_or_feedback(t)])
def test_every_panel_query_returns_data_from_a_real_prometheus(
    scraped: Scraped, title: str
) -> None:
    _check_panel(scraped, title)


@dataclass
class Judged:
    """A classifier (``digits``, registered with a reference of its inputs) and a regressor
    (``diabetes``) deployed, sent inputs and labelled feedback, and a Prometheus scraping both."""

    prometheus: Prometheus
    accuracy: float  # correct ÷ all the feedback given to ``digits``
    mae: float  # mean |label - prediction| of the feedback given to ``diabetes``


LIVE_ROWS = 200  # > the 100 rows drift needs in the window
ROWS_PER_REQUEST = 10


def _judged_home(tmp: Path, cli: Any) -> None:
    """``digits`` v1 registered with ``--reference`` (the digits inputs it was fitted on) and
    ``diabetes`` v1, a linear regression, through the CLI."""
    digits, classes = load_digits(return_X_y=True)
    diabetes, targets = load_diabetes(return_X_y=True)
    for name, model, inputs in (
        ("digits", GaussianNB().fit(digits, classes), digits),  # fits in milliseconds
        ("diabetes", LinearRegression().fit(diabetes, targets), diabetes),
    ):
        skops.io.dump(model, tmp / f"{name}.skops")
        np.save(tmp / f"{name}-inputs.npy", inputs)
        registered = cli(
            "register",
            str(tmp / f"{name}.skops"),
            "--name",
            name,
            "--reference",
            str(tmp / f"{name}-inputs.npy"),
        )
        assert registered.returncode == 0, registered.stderr


def _predict(client: httpx.Client, model: str, rows: np.ndarray) -> tuple[str, list[Any]]:
    answer = client.post(f"/v1/models/{model}:predict", json={"instances": rows.tolist()})
    assert answer.status_code == 200, answer.text
    return answer.headers["x-request-id"], answer.json()["predictions"]


def _feedback(client: httpx.Client, model: str, request_id: str, labels: list[Any]) -> None:
    body = {"request_id": request_id, "label": labels}
    done = client.post(f"/v2/models/{model}/feedback", json=body)
    assert done.status_code == 200, done.text


def _send_and_judge(digits_port: int, diabetes_port: int) -> tuple[float, float]:
    """``LIVE_ROWS`` rows to each deployment, every row labelled: for ``digits`` one label in
    four wrong, for ``diabetes`` labels 0.5 and 1.5 off the prediction in turn. The accuracy
    and MAE that feedback makes."""
    digits = load_digits().data
    diabetes = load_diabetes().data
    correct = wrong = 0
    errors: list[float] = []
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{digits_port}", timeout=30) as classifier,
        httpx.Client(base_url=f"http://127.0.0.1:{diabetes_port}", timeout=30) as regressor,
    ):
        for start in range(0, LIVE_ROWS, ROWS_PER_REQUEST):
            rows = slice(start, start + ROWS_PER_REQUEST)
            request_id, predicted = _predict(classifier, "digits", digits[rows])
            labels = []
            for row, value in enumerate(predicted, start):
                if row % 4 == 3:
                    labels.append((int(value) + 1) % 10)
                    wrong += 1
                else:
                    labels.append(int(value))
                    correct += 1
            _feedback(classifier, "digits", request_id, labels)

            request_id, predicted = _predict(regressor, "diabetes", diabetes[rows])
            offsets = [0.5 if row % 2 else -1.5 for row in range(start, start + len(predicted))]
            _feedback(
                regressor,
                "diabetes",
                request_id,
                [float(value) + off for value, off in zip(predicted, offsets, strict=True)],
            )
            errors += [abs(off) for off in offsets]
    return correct / (correct + wrong), sum(errors) / len(errors)


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judged]:
    tmp = tmp_path_factory.mktemp("judged")
    cp = ControlPlane(tmp / "home", free_port())
    _judged_home(tmp, cp.cli)
    cp.start()
    try:
        ports = {"digits": free_port(), "diabetes": free_port()}
        deploying = {  # both at once: a server takes seconds to start on a busy machine
            name: subprocess.Popen(
                [SHIPYARD, "deploy", name, "--version", "1", "--port", str(port)],
                env=cp.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, port in ports.items()
        }
        for name, proc in deploying.items():
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            cp.wait_for(lambda s: s["in_sync"], name=name)
        targets = [f"127.0.0.1:{port}" for port in ports.values()]
        with start_prometheus(tmp, targets) as prometheus:
            # every series exists from load: one scrape of them at 0 before any traffic, so
            # increase() over the window counts all of it
            for deployment in ports:
                prometheus.wait_for(f'shipyard_input_bin_total{{deployment="{deployment}"}}')
                prometheus.wait_for(f'shipyard_feedback_total{{deployment="{deployment}"}}')
            accuracy, mae = _send_and_judge(ports["digits"], ports["diabetes"])
            judgement = Judged(prometheus, accuracy, mae)
            for title, deployment in QUALITY_PANELS.items():
                _wait_for_panel(judgement, title, deployment)
            yield judgement
    finally:
        cp.cleanup()


# the deployment each drift and live-quality panel is looked at for
QUALITY_PANELS = {
    "Drift (PSI per feature)": "digits",
    "Live accuracy (over $window)": "digits",
    "Live MAE (over $window)": "diabetes",
}


def _panel_expr(title: str, deployment: str) -> str:
    [panel] = [p for p in panels() if p.title == title]
    [query] = panel.queries
    expr = substitute(query.expr, {**VARIABLES, "deployment": deployment})
    assert "$" not in expr, f"{title}: a variable left in {expr}"
    return expr


def _wait_for_panel(judged: Judged, title: str, deployment: str) -> None:
    """Until the panel shows everything that was sent (the drift counts are flushed within a
    second, then scraped)."""
    expr = _panel_expr(title, deployment)
    if title.startswith("Drift"):
        rows = f'sum(increase(shipyard_input_bin_total{{deployment="{deployment}",feature="10"}}'
        judged.prometheus.wait_for(f"{rows}[1h])) >= {LIVE_ROWS}")
    elif title.startswith("Live accuracy"):
        judged.prometheus.wait_for(
            f'sum(increase(shipyard_feedback_total{{deployment="{deployment}"}}[1h])) >= '
            f"{LIVE_ROWS}"
        )
    else:
        judged.prometheus.wait_for(
            f'sum(increase(shipyard_feedback_total{{deployment="{deployment}",'
            f'outcome="scored"}}[1h])) >= {LIVE_ROWS}'
        )
    judged.prometheus.wait_for(expr)


def test_quality_panels_are_the_ones_waiting_for_drift_and_feedback() -> None:
    assert sorted(QUALITY_PANELS) == sorted(t for t in TITLES if _needs_drift_or_feedback(t))


@pytest.mark.parametrize("title", [t for t in TITLES if _needs_drift_or_feedback(t)])
def test_drift_and_live_quality_panels_return_data(
    scraped: Scraped, judged: Judged, title: str
) -> None:
    deployment = QUALITY_PANELS[title]
    # the exported dashboard's query is the one panels() builds
    [target] = next(p for p in scraped.dashboard["panels"] if p["title"] == title)["targets"]
    expr = _panel_expr(title, deployment)
    assert substitute(target["expr"], {**VARIABLES, "deployment": deployment}) == expr
    result = judged.prometheus.query(expr)
    assert result, f"{title}: no series for {expr}"
    values = {s["metric"].get("feature", ""): float(s["value"][1]) for s in result}
    assert {s["metric"]["version"] for s in result} == {"1"}
    assert {s["metric"]["deployment"] for s in result} == {deployment}
    assert all(math.isfinite(v) for v in values.values()), values
    if title.startswith("Drift"):
        # one series per pixel of the 8x8 digits but the always-blank ones (a single bin
        # cannot drift, so they are not counted)
        reference = summarize(load_digits().data)["features"]
        assert sorted(values) == sorted(f["name"] for f in reference if f["edges"])
        assert len(values) == 61
        assert all(v >= 0 for v in values.values()), values
        # the live rows are drawn from the reference's own inputs: no feature drifted much
        assert max(values.values()) < 1, values
    elif title.startswith("Live accuracy"):
        [accuracy] = values.values()
        assert 0 < accuracy < 1
        assert accuracy == pytest.approx(judged.accuracy, abs=0.01)  # 0.75
    else:
        [mae] = values.values()
        assert mae > 0
        assert mae == pytest.approx(judged.mae, rel=0.01)  # 1.0


def test_the_deployment_variable_lists_the_scraped_deployment(scraped: Scraped) -> None:
    variable = next(v for v in scraped.dashboard["templating"]["list"] if v["name"] == "deployment")
    query = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"])
    assert query is not None, variable["query"]
    metric, label = query.groups()
    values = scraped.prometheus.api(f"label/{label}/values", **{"match[]": metric})
    assert values == ["demand"]


def test_error_rate_panel_is_the_alert_rules_expression_with_its_threshold(
    scraped: Scraped,
) -> None:
    panel = next(p for p in scraped.dashboard["panels"] if p["title"] == "Error rate")
    rules = yaml.safe_load(scraped.rules.read_text())
    alert = rules["groups"][0]["rules"][0]["expr"]  # the rule's window is 1m, like the test's
    assert alert == f"{substitute(panel['targets'][0]['expr'])} > 0.05"
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.05]
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "line"}


def test_panels_have_unique_ids_a_datasource_and_no_overlap(scraped: Scraped) -> None:
    dashboard = scraped.dashboard
    assert 36 <= dashboard["schemaVersion"] <= 41
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) == len(TITLES)
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
    names = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert names["datasource"]["type"] == "datasource" and names["datasource"]["query"] == (
        "prometheus"
    )
    assert names["deployment"]["current"]["value"] == "demand"  # the project's deployment


def test_provisioning_files_have_grafanas_shape(scraped: Scraped) -> None:
    provider = yaml.safe_load((scraped.files / PROVIDER_FILE).read_text())
    assert provider["apiVersion"] == 1
    [entry] = provider["providers"]
    assert entry["type"] == "file" and entry["name"] and entry["folder"]
    dashboards = Path(entry["options"]["path"])
    assert dashboards.is_absolute() and (dashboards / "shipyard.json").is_file()
    datasources = yaml.safe_load((scraped.files / DATASOURCE_FILE).read_text())
    assert datasources["apiVersion"] == 1
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    assert source["uid"] == DATASOURCE_UID and source["url"] == "http://127.0.0.1:9090"


def _series(scraped: Scraped, title: str, ref: str = "A") -> list[dict[str, Any]]:
    panel = next(p for p in scraped.dashboard["panels"] if p["title"] == title)
    target = next(t for t in panel["targets"] if t["refId"] == ref)
    return scraped.prometheus.query(substitute(target["expr"]))


def test_panels_show_what_the_traffic_did(scraped: Scraped) -> None:
    classes = {
        (s["metric"]["version"], s["metric"]["code_class"])
        for s in _series(scraped, "Requests per second")
    }
    assert {("1", "2xx"), ("1", "5xx"), ("2", "2xx"), ("2", "5xx")} <= classes
    [overall] = _series(scraped, "Error rate")
    assert 0.05 < float(overall["value"][1]) < 0.5  # every fifth request fails
    weights = {
        (s["metric"]["version"], s["metric"]["role"]): float(s["value"][1])
        for s in _series(scraped, "Traffic weight")
    }
    assert weights[("1", "live")] == 70 and weights[("2", "live")] == 30
    assert weights[("3", "shadow")] == 100
    shadow = {
        (s["metric"]["version"], s["metric"]["result"]) for s in _series(scraped, "Shadow results")
    }
    assert ("3", "mismatch") in shadow  # v3 answers 3.0 where v1 and v2 answer 1.0 and 2.0
    loaded = {
        s["metric"]["version"]: float(s["value"][1]) for s in _series(scraped, "Model loaded")
    }
    assert loaded == {"1": 1.0, "2": 1.0, "3": 1.0}
    [alert] = _series(scraped, "Firing alerts")
    assert alert["metric"]["alertname"] == "HighErrorRate"


def test_export_grafana_works_outside_a_project_without_alerts(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "http://prometheus.internal:9090"
    result = cli("export", "grafana", "--out", "out", "--prometheus-url", url)
    assert result.code == 0, result.err
    for name in (DASHBOARD_FILE, PROVIDER_FILE, DATASOURCE_FILE):
        assert f"wrote {tmp_path / 'out' / name}" in result.out.replace("\n", "")
    [source] = yaml.safe_load((tmp_path / "out" / DATASOURCE_FILE).read_text())["datasources"]
    assert source["url"] == url
    dashboard = json.loads((tmp_path / "out" / DASHBOARD_FILE).read_text())
    for panel in dashboard["panels"]:  # no rules: no threshold lines
        assert "thresholdsStyle" not in panel["fieldConfig"]["defaults"].get("custom", {})
