"""A Grafana dashboard of a deployment, and the provisioning files that load it.

    shipyard export grafana --out grafana/
      dashboards/shipyard.json                  the dashboard ($deployment picks one)
      provisioning/dashboards/shipyard.yaml     a file provider pointing at dashboards/
      provisioning/datasources/prometheus.yaml  the Prometheus datasource (--prometheus-url)

Every query is PromQL over the serving metrics of ``architecture/monitoring.md``. The
error-rate, drift and live-quality panels show the very expressions the alert rules use
(``expressions/promql.py``), and each alert rule of the project is drawn as a threshold line
on the panel of its metric.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from shipyard.expressions.alert_rules import AlertRule
from shipyard.expressions.prometheus_rules import STEP
from shipyard.expressions.promql import drift_psi_expr, duration, live_expr, metric_expr

DASHBOARD_FILE = "dashboards/shipyard.json"
PROVIDER_FILE = "provisioning/dashboards/shipyard.yaml"
DATASOURCE_FILE = "provisioning/datasources/prometheus.yaml"
DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
DASHBOARD_UID = "shipyard-deployment"
DATASOURCE_UID = "shipyard-prometheus"
SCHEMA_VERSION = 39

RATE = "$__rate_interval"  # Grafana's: at least four scrape intervals, so rate() has samples
WINDOW = "$window"  # the dashboard's own variable: drift and live quality need many rows
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_SEL = 'deployment="$deployment"'


@dataclass(frozen=True, slots=True)
class Query:
    """One target of a panel: PromQL and its legend."""

    expr: str
    legend: str
    instant: bool = False


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel: what it shows, in which unit, and the alert metrics drawn on it."""

    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    metrics: tuple[str, ...] = ()  # rule metrics whose thresholds are drawn as lines
    kind: str = "timeseries"
    width: int = 12


def _by_version(quantity: str, selector: str = _SEL) -> str:
    return f"sum by (version) (rate({quantity}{{{selector}}}[{RATE}]))"


def _quantile(q: str, histogram: str) -> str:
    buckets = f"rate({histogram}_bucket{{{_SEL}}}[{RATE}])"
    return f"histogram_quantile({q}, sum by (version, le) ({buckets}))"


def panels() -> list[Panel]:
    """The dashboard's panels, top to bottom, two to a row."""
    requests = "shipyard_requests_total"
    classes = (
        f'label_replace(rate({requests}{{{_SEL}}}[{RATE}]), "code_class", "${{1}}xx", '
        '"code", "(.).*")'
    )
    errors = _by_version(requests, f'{_SEL},code=~"5.."')
    answered = _by_version(requests)
    quality = [
        ("live_accuracy", "Live accuracy", "percentunit", "correct ÷ all feedback"),
        ("live_mae", "Live MAE", "none", "absolute error ÷ scored feedback"),
    ]
    return [
        Panel(
            "Requests per second",
            "Answers per second by version and HTTP code class.",
            "reqps",
            (Query(f"sum by (version, code_class) ({classes})", "v{{version}} {{code_class}}"),),
        ),
        Panel(
            "Error rate",
            "Share of requests answered 5xx. The first query is the alert rules' expression.",
            "percentunit",
            (
                Query(metric_expr("error_rate", RATE, "$deployment"), "all"),
                # a version without a 5xx series has a rate of 0, not no value
                Query(f"({errors} or {answered} * 0) / {answered}", "v{{version}}"),
            ),
            metrics=("error_rate",),
        ),
        Panel(
            "Latency",
            "Request to answer, per version.",
            "s",
            tuple(
                Query(_quantile(q, "shipyard_request_duration_seconds"), f"v{{{{version}}}} p{p}")
                for q, p in (("0.5", "50"), ("0.95", "95"), ("0.99", "99"))
            ),
            metrics=("p50_latency", "p95_latency", "p99_latency"),
        ),
        Panel(
            "Batch size",
            "Rows per model call, per version.",
            "none",
            tuple(
                Query(_quantile(q, "shipyard_batch_size"), f"v{{{{version}}}} p{p}")
                for q, p in (("0.5", "50"), ("0.95", "95"))
            ),
        ),
        Panel(
            "Queue depth",
            "Requests waiting for a batch, summed over worker processes.",
            "none",
            (Query(f"sum by (version) (shipyard_queue_depth{{{_SEL}}})", "v{{version}}"),),
        ),
        Panel(
            "Traffic weight",
            "Percent of traffic per live version; a shadow's is the percent copied to it.",
            "percent",
            (
                Query(
                    f"max by (version, role) (shipyard_route_weight{{{_SEL}}})",
                    "v{{version}} {{role}}",
                ),
            ),
        ),
        Panel(
            "Model loaded",
            "1 while the version is loaded in the server's workers.",
            "none",
            (Query(f"max by (version) (shipyard_model_loaded{{{_SEL}}})", "v{{version}}"),),
        ),
        Panel(
            "Shadow results",
            "Copies of live requests a shadow version answered, per second, by result.",
            "reqps",
            (
                Query(
                    f"sum by (version, result) "
                    f"(rate(shipyard_shadow_requests_total{{{_SEL}}}[{RATE}]))",
                    "v{{version}} {{result}}",
                ),
            ),
        ),
        Panel(
            "Drift (PSI per feature)",
            "Population stability index of each feature's live inputs over $window against "
            "the version's reference; shown once the window holds enough rows.",
            "none",
            (
                Query(
                    drift_psi_expr(WINDOW, "$deployment"),
                    "v{{version}} {{feature}}",
                ),
            ),
            metrics=("drift_psi",),
        ),
        *(
            Panel(
                f"{title} (over $window)",
                f"{what}, per version.",
                unit,
                (Query(live_expr(metric, WINDOW, "$deployment"), "v{{version}}"),),
                metrics=(metric,),
            )
            for metric, title, unit, what in quality
        ),
        Panel(
            "Firing alerts",
            "Prometheus alerts firing now for this deployment.",
            "none",
            (Query(f'ALERTS{{alertstate="firing",{_SEL}}}', "{{alertname}}", instant=True),),
            kind="table",
            width=24,
        ),
    ]


_SEVERITY_COLOURS = {"info": "blue", "warning": "orange", "critical": "red"}


def _thresholds(panel: Panel, rules: Sequence[AlertRule]) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    mine = sorted((r for r in rules if r.metric in panel.metrics), key=lambda r: r.threshold)
    steps += [{"color": _SEVERITY_COLOURS[r.severity], "value": r.threshold} for r in mine]
    return {"mode": "absolute", "steps": steps}


def _panel_json(
    pid: int, panel: Panel, rules: Sequence[AlertRule], y: int, x: int
) -> dict[str, Any]:
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": q.expr,
            "legendFormat": q.legend,
            "range": not q.instant,
            "instant": q.instant,
            **({"format": "table"} if q.instant else {}),
        }
        for i, q in enumerate(panel.queries)
    ]
    defaults: dict[str, Any] = {"unit": panel.unit, "thresholds": _thresholds(panel, rules)}
    options: dict[str, Any] = {"tooltip": {"mode": "multi", "sort": "desc"}}
    transformations: list[dict[str, Any]] = []
    if panel.kind == "timeseries":
        defaults["custom"] = {"lineWidth": 1, "fillOpacity": 0, "spanNulls": False}
        if any(r.metric in panel.metrics for r in rules):
            defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
        options["legend"] = {"displayMode": "list", "placement": "bottom", "showLegend": True}
    else:  # a table of labels: the sample's time and value say nothing here
        options = {"showHeader": True}
        transformations = [
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}},
            }
        ]
    return {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": 8},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
        "transformations": transformations,
    }


def _variables(deployment: str | None) -> list[dict[str, Any]]:
    chosen = {"text": deployment, "value": deployment} if deployment else {}
    windows = ["15m", "1h", "6h", "1d"]
    return [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {"text": "Prometheus", "value": DATASOURCE_UID},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        {
            "name": "deployment",
            "label": "Deployment",
            "type": "query",
            "datasource": DATASOURCE,
            "query": "label_values(shipyard_requests_total, deployment)",
            "definition": "label_values(shipyard_requests_total, deployment)",
            "current": chosen,
            "refresh": 2,  # on time range change: new deployments appear
            "sort": 1,
            "multi": False,
            "includeAll": False,
            "hide": 0,
            "options": [],
        },
        {
            "name": "window",
            "label": "Quality window",
            "type": "custom",
            "query": ",".join(windows),
            "current": {"text": "1h", "value": "1h"},
            "options": [{"text": w, "value": w, "selected": w == "1h"} for w in windows],
            "hide": 0,
            "multi": False,
            "includeAll": False,
        },
    ]


def dashboard(rules: Sequence[AlertRule] = (), deployment: str | None = None) -> dict[str, Any]:
    """The dashboard in Grafana's JSON model; ``rules`` are drawn as threshold lines."""
    placed: list[dict[str, Any]] = []
    x = y = 0
    for pid, panel in enumerate(panels(), start=1):
        if x + panel.width > 24:
            x, y = 0, y + 8
        placed.append(_panel_json(pid, panel, rules, y, x))
        x += panel.width
    return {
        "id": None,
        "uid": DASHBOARD_UID,
        "title": "Shipyard deployment",
        "description": "Traffic, latency, versions, drift and live quality of one deployment.",
        "tags": ["shipyard"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,  # a shared crosshair: versions line up in time across panels
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": _variables(deployment)},
        "panels": placed,
    }


def datasource(url: str = DEFAULT_PROMETHEUS_URL) -> dict[str, Any]:
    """Grafana's datasource provisioning document for the Prometheus at ``url``."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": url,
                # the scrape interval of `shipyard export prometheus`: $__rate_interval needs it
                "jsonData": {"timeInterval": duration(STEP)},
                "editable": True,
            }
        ],
    }


def provider(dashboards_dir: str) -> dict[str, Any]:
    """Grafana's dashboard provider document: load the dashboards in ``dashboards_dir``."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "shipyard",
                "orgId": 1,
                "folder": "Shipyard",
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": dashboards_dir, "foldersFromFilesStructure": False},
            }
        ],
    }


def grafana_files(
    dashboards_dir: str,
    prometheus_url: str = DEFAULT_PROMETHEUS_URL,
    rules: Sequence[AlertRule] = (),
    deployment: str | None = None,
) -> dict[str, str]:
    """Relative path → text, for ``shipyard export grafana``. ``dashboards_dir`` is where
    Grafana will find ``dashboards/`` (an absolute path on Grafana's machine)."""
    head = "# {} — generated by `shipyard export grafana`\n"

    def dump(document: dict[str, Any], what: str) -> str:
        return head.format(what) + yaml.safe_dump(document, sort_keys=False, width=1000)

    return {
        DASHBOARD_FILE: json.dumps(dashboard(rules, deployment), indent=2, ensure_ascii=False)
        + "\n",
        PROVIDER_FILE: dump(provider(dashboards_dir), "Grafana dashboard provider"),
        DATASOURCE_FILE: dump(datasource(prometheus_url), "Grafana datasource"),
    }
