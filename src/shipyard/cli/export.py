"""``shipyard export``: the project's monitoring as files other tools read."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import console, stores
from shipyard.errors import NotFoundError, SpecError
from shipyard.images import DEFAULT_TAG

app = typer.Typer(
    help="Export as files other tools read: Prometheus, Grafana, Kubernetes.",
    no_args_is_help=True,
)


@app.command("prometheus")
def prometheus_cmd(
    out: Path = typer.Option(..., "--out", help="Directory to write the files to."),
    deployment: str | None = typer.Option(
        None, help="Deployment the rules watch (default: the spec's deploy.name or the model)."
    ),
    target: list[str] | None = typer.Option(
        None, help="HOST:PORT to scrape (default: the deployment's own, else 127.0.0.1:8000)."
    ),
) -> None:
    """Scrape config, alerting rules in PromQL, and promtool unit tests, from `monitor.alerts`."""
    from shipyard.monitor.export import prometheus_files
    from shipyard.project import load_project

    project = load_project(Path.cwd())
    spec = project.spec
    if spec.monitor is None or not spec.monitor.alerts:
        raise SpecError(
            "shipyard.yaml has no alerts to export",
            hint="add `monitor: {alerts: [{name: HighErrorRate, when: error_rate > 0.02}]}`",
        )
    name = deployment or (spec.deploy.name if spec.deploy and spec.deploy.name else None)
    name = name or spec.model.name
    targets = list(target or []) or _targets(name)
    rules = [a.rule() for a in spec.monitor.alerts]
    out.mkdir(parents=True, exist_ok=True)
    for file, text in prometheus_files(rules, name, targets).items():
        (out / file).write_text(text)
        console.print(f"wrote {out / file}")
    console.print(
        f"{len(rules)} alert rule(s) for deployment {name!r}, scraping {', '.join(targets)}; "
        f"check them with `promtool test rules {out / 'shipyard-rules.test.yml'}`"
    )


@app.command("grafana")
def grafana_cmd(
    out: Path = typer.Option(Path("grafana"), "--out", help="Directory to write the files to."),
    prometheus_url: str | None = typer.Option(
        None,
        "--prometheus-url",
        help="Prometheus for Grafana's datasource (default: the spec's monitor.prometheus_url, "
        "else http://127.0.0.1:9090).",
    ),
) -> None:
    """A Grafana dashboard of a deployment and the provisioning files that load it.

    In a project, its alert rules are drawn on the panels and its deployment is preselected;
    anywhere else the dashboard works on its own.
    """
    from shipyard.monitor.grafana import DASHBOARD_FILE, DEFAULT_PROMETHEUS_URL, grafana_files
    from shipyard.project import find_project

    project = find_project(Path.cwd())
    spec = project.spec if project else None
    monitor = spec.monitor if spec else None
    rules = [a.rule() for a in monitor.alerts] if monitor else []
    deployment = None
    if spec is not None:
        deployment = spec.deploy.name if spec.deploy and spec.deploy.name else spec.model.name
    url = prometheus_url or (monitor.prometheus_url if monitor else None) or DEFAULT_PROMETHEUS_URL
    out = out.resolve()  # Grafana's provider needs an absolute path to the dashboards
    files = grafana_files(str(out / Path(DASHBOARD_FILE).parent), url, rules, deployment)
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        console.print(f"wrote {path}")
    drawn = f", {len(rules)} alert rule(s) drawn as thresholds" if rules else ""
    console.print(
        f"dashboard reads Prometheus at {url}{drawn}; point Grafana's provisioning at "
        f"{out / 'provisioning'} (e.g. GF_PATHS_PROVISIONING={out / 'provisioning'})"
    )


def _targets(deployment: str) -> list[str]:
    """The deployment's own address when this home has it, else the serving default."""
    with stores() as opened:
        try:
            d = opened.deploy.get_deployment(deployment)
        except NotFoundError:
            return ["127.0.0.1:8000"]
    host = "127.0.0.1" if d.host in ("0.0.0.0", "::") else d.host
    return [f"{host}:{d.port}"]


@app.command("kubernetes")
def kubernetes_cmd(
    model: str = typer.Argument(..., help="The registered model."),
    version: str = typer.Option(..., "--version", "-v", help="Version number or alias."),
    out: Path = typer.Option(Path("deploy/k8s"), "--out", help="Directory to write to."),
    name: str | None = typer.Option(None, help="Deployment name (default: the model's)."),
    image: str = typer.Option(
        DEFAULT_TAG,
        help="The pods' image; {model} and {version} are filled in for each track "
        "(the default is `shipyard image build`'s).",
    ),
    namespace: str | None = typer.Option(None, help="Namespace (default: the context's)."),
    replicas: int = typer.Option(2, min=1, max=1000, help="Pods (the autoscaler's minimum)."),
    max_replicas: int = typer.Option(6, min=1, max=1000, help="The autoscaler's maximum."),
    cpu: str = typer.Option("500m", help="CPU request per pod."),
    memory: str = typer.Option("1Gi", help="Memory request and limit per pod."),
    canary_version: str | None = typer.Option(
        None, help="Also run this version as a canary beside the stable one."
    ),
    canary_weight: int = typer.Option(10, help="The canary's share in percent (whole pods)."),
    prometheus_operator: bool = typer.Option(
        True, help="Also write a ServiceMonitor and the alert rules as a PrometheusRule."
    ),
) -> None:
    """Plain Kubernetes manifests for a model version, with a kustomization.yaml."""
    import yaml

    from shipyard.deploy.request import check_deployment_name
    from shipyard.k8s.manifests import Settings, objects
    from shipyard.project import find_project
    from shipyard.refs import parse_ref
    from shipyard.registry import resolve

    with stores() as s:
        chosen = resolve(s, parse_ref(f"{model}:{version}"))
        canary = None
        if canary_version is not None:
            canary = (resolve(s, parse_ref(f"{model}:{canary_version}")), canary_weight)
    deployment = check_deployment_name(name or model)
    settings = Settings(
        deployment,
        image,
        namespace,
        replicas,
        max_replicas,
        cpu,
        memory,
    )
    project = find_project(Path.cwd())
    rules = []
    if project is not None and project.spec.model.name == model and project.spec.monitor:
        rules = [a.rule() for a in project.spec.monitor.alerts]
    documents = objects(settings, chosen, canary=canary, rules=rules, operator=prometheus_operator)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for document in documents:
        track = document["metadata"]["labels"].get("shipyard.dev/track")
        file = f"{document['kind'].lower()}{'-' + track if track else ''}.yaml"
        (out / file).write_text(yaml.safe_dump(document, sort_keys=False))
        files.append(file)
        console.print(f"wrote {out / file}")
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    (out / "kustomization.yaml").write_text(
        yaml.safe_dump({**kustomization, "resources": files}, sort_keys=False)
    )
    console.print(f"apply with `kubectl apply -k {out}`")
