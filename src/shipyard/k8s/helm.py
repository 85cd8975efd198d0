"""A Helm chart of a deployment: the objects of ``manifests.py``, rendered by Helm from values.

The chart's templates (``k8s/chart/``) are written by hand, so the chart reads as any
other; what a model version and the export's options decide goes into ``values.yaml``,
which :func:`values` builds from the same arguments :func:`manifests.objects` takes.
The two are kept in step by the tests: for several settings, ``helm template`` of the
exported chart must give exactly the objects ``manifests.objects()`` gives.

Namespaces come from the release (``helm install --namespace``); the ServiceMonitor and
PrometheusRule render only where the cluster serves the Prometheus Operator's API.
"""

from __future__ import annotations

import json
import re
import textwrap
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import Any

import yaml

from shipyard.expressions.alert_rules import AlertRule
from shipyard.expressions.prometheus_rules import alerting_rules
from shipyard.k8s.manifests import Settings, objects
from shipyard.store import ModelVersion

MONITORING_API = "monitoring.coreos.com/v1"  # the Prometheus Operator's; the chart asks for it
VALUES_TEMPLATE = "values.yaml.tmpl"
_BLOCKS = {"labels", "prometheusOperator.ruleGroups"}  # values written as YAML blocks


def chart_files(folder: str = "chart") -> Traversable:
    """A chart's fixed files (templates, schema, ``.helmignore``) and its values' layout:
    the model chart's by default, ``control_plane_chart`` for the control plane's."""
    return resources.files("shipyard") / "k8s" / folder


def values(
    s: Settings,
    version: ModelVersion,
    *,
    canary: tuple[ModelVersion, int] | None = None,
    rules: list[AlertRule] | None = None,
    operator: bool = True,
) -> dict[str, Any]:
    """The chart's values that render what ``manifests.objects`` renders with these arguments
    (``s.namespace`` aside: a release has its own)."""
    repository, tag = split_image(s.image.replace("{model}", version.model))
    canary_version, weight = canary if canary is not None else (None, 10)
    return {
        "name": s.name,
        "labels": dict(s.extra_labels),
        "model": {
            "name": version.model,
            "version": version.version,
            "digest": version.content_digest,
            "commit": version.lineage.git_commit or "",
        },
        "image": {"repository": repository, "tag": tag},
        "replicas": s.replicas,
        "resources": {
            "requests": {"cpu": s.cpu, "memory": s.memory},
            "limits": {"cpu": s.cpu_limit, "memory": s.memory_limit},
        },
        "autoscaling": {
            "enabled": True,
            "minReplicas": None,
            "maxReplicas": s.max_replicas,
            "targetCPUUtilizationPercentage": s.target_cpu,
        },
        "canary": {
            "enabled": canary_version is not None,
            "version": canary_version.version if canary_version else None,
            "digest": canary_version.content_digest if canary_version else "",
            "commit": (canary_version.lineage.git_commit or "") if canary_version else "",
            "weight": weight,
            "image": {"tag": ""},
        },
        "prometheusOperator": {
            "enabled": operator,
            "ruleGroups": alerting_rules(rules, s.name)["groups"] if rules else [],
        },
    }


def split_image(image: str) -> tuple[str, str]:
    """``registry/name:tag`` as repository and tag (a name pinned by digest, or without a
    tag, is all repository)."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last or ":" not in last:
        return image, ""
    repository, tag = image.rsplit(":", 1)
    return repository, tag


def chart_metadata(s: Settings, version: ModelVersion) -> dict[str, Any]:
    """``Chart.yaml``: one chart version per model version (``4.0.0`` serves version 4)."""
    return {
        "apiVersion": "v2",
        "name": s.name,
        "description": f"Model {version.model} version {version.version}, served by Shipyard",
        "type": "application",
        "version": f"{version.version}.0.0",
        "appVersion": str(version.version),
        "kubeVersion": ">=1.23.0-0",  # autoscaling/v2 and policy/v1
    }


def values_yaml(chosen: dict[str, Any]) -> str:
    """``values.yaml``: the values in the chart's commented layout."""
    model = chosen["model"]
    return layout_values(
        chart_files(), chosen, _BLOCKS, title=f"{model['name']} version {model['version']}"
    )


def layout_values(
    folder: Traversable, chosen: dict[str, Any], blocks: set[str], **extra: str
) -> str:
    """A chart's ``values.yaml``: its layout (``values.yaml.tmpl`` in ``folder``, comments
    and all) with each ``${path_to_value}`` replaced by that value in ``chosen`` as YAML;
    the values named in ``blocks`` are written as YAML blocks below their key."""
    layout = Template(folder.joinpath(VALUES_TEMPLATE).read_text())
    text = layout.substitute(_placeholders(chosen, blocks), **extra)
    return re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)  # after a key whose block follows


def _placeholders(node: dict[str, Any], blocks: set[str], path: str = "") -> dict[str, str]:
    """``{"image_tag": '"{version}"', ...}``: each value as YAML, by its path in the layout."""
    out: dict[str, str] = {}
    for key, value in node.items():
        dotted = f"{path}{key}"
        if isinstance(value, dict) and dotted not in blocks:
            out.update(_placeholders(value, blocks, f"{dotted}."))
        elif dotted in blocks and value:
            block = yaml.safe_dump(value, sort_keys=False, allow_unicode=True)
            indent = "  " * (path.count(".") + 1)  # one level below its key
            out[dotted.replace(".", "_")] = "\n" + textwrap.indent(block, indent).rstrip("\n")
        else:
            out[dotted.replace(".", "_")] = json.dumps(value)  # JSON scalars are YAML
    return out


def write_chart(
    out: Path,
    s: Settings,
    version: ModelVersion,
    *,
    canary: tuple[ModelVersion, int] | None = None,
    rules: list[AlertRule] | None = None,
    operator: bool = True,
) -> list[Path]:
    """Write the chart into ``out``; returns the files written."""
    objects(s, version, canary=canary, rules=rules, operator=operator)  # the same checks
    chosen = values(s, version, canary=canary, rules=rules, operator=operator)
    return write_files(out, chart_files(), chart_metadata(s, version), values_yaml(chosen))


def write_files(
    out: Path, folder: Traversable, metadata: dict[str, Any], values_text: str
) -> list[Path]:
    """Write a chart into ``out``: ``Chart.yaml`` from ``metadata``, ``values.yaml`` and
    the fixed files of ``folder``; returns the files written."""
    written = [
        _write(out / "Chart.yaml", yaml.safe_dump(metadata, sort_keys=False)),
        _write(out / "values.yaml", values_text),
    ]
    written += [_write(out / name, text) for name, text in _fixed(folder)]
    return written


def _fixed(folder: Traversable, prefix: str = "") -> list[tuple[str, str]]:
    """The chart's files that are the same for every export, as (relative path, text)."""
    out: list[tuple[str, str]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            out += _fixed(entry, f"{prefix}{entry.name}/")
        elif entry.name != VALUES_TEMPLATE:
            out.append((f"{prefix}{entry.name}", entry.read_text()))
    return out


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
