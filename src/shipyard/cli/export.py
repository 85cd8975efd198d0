"""``shipyard export``: the project's monitoring as files other tools read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shipyard.cli.common import console, stores
from shipyard.errors import InvalidInputError, NotFoundError, SpecError
from shipyard.images import DEFAULT_TAG

if TYPE_CHECKING:
    from shipyard.expressions.alert_rules import AlertRule
    from shipyard.store import ModelVersion

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
    from shipyard.expressions.prometheus_rules import prometheus_files
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


# The options `export kubernetes` and `export helm` share: one declaration, one help text.
_NAME = typer.Option(None, help="Deployment name (default: the model's).")
_IMAGE = typer.Option(
    DEFAULT_TAG,
    help="The pods' image; {model} and {version} are filled in for each track "
    "(the default is `shipyard image build`'s).",
)
_REPLICAS = typer.Option(2, min=1, max=1000, help="Pods (the autoscaler's minimum).")
_MAX_REPLICAS = typer.Option(6, min=1, max=1000, help="The autoscaler's maximum.")
_CPU = typer.Option("500m", help="CPU request per pod.")
_MEMORY = typer.Option("1Gi", help="Memory request and limit per pod.")
_CANARY_VERSION = typer.Option(
    None, help="Also run this version as a canary beside the stable one."
)
_CANARY_WEIGHT = typer.Option(10, help="The canary's share in percent (whole pods).")
_PROMETHEUS_OPERATOR = typer.Option(
    True, help="Also write a ServiceMonitor and the alert rules as a PrometheusRule."
)


@app.command("kubernetes")
def kubernetes_cmd(
    model: str = typer.Argument(..., help="The registered model."),
    version: str = typer.Option(..., "--version", "-v", help="Version number or alias."),
    out: Path = typer.Option(Path("deploy/k8s"), "--out", help="Directory to write to."),
    name: str | None = _NAME,
    image: str = _IMAGE,
    namespace: str | None = typer.Option(None, help="Namespace (default: the context's)."),
    replicas: int = _REPLICAS,
    max_replicas: int = _MAX_REPLICAS,
    cpu: str = _CPU,
    memory: str = _MEMORY,
    canary_version: str | None = _CANARY_VERSION,
    canary_weight: int = _CANARY_WEIGHT,
    prometheus_operator: bool = _PROMETHEUS_OPERATOR,
) -> None:
    """Plain Kubernetes manifests for a model version, with a kustomization.yaml."""
    import yaml

    from shipyard.deploy.request import check_deployment_name
    from shipyard.k8s.manifests import Settings, objects

    chosen, canary = _versions(model, version, canary_version, canary_weight)
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
    rules = _alert_rules(model)
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


@app.command("helm")
def helm_cmd(
    ctx: typer.Context,
    model: str | None = typer.Argument(None, help="The registered model."),
    version: str | None = typer.Option(
        None,
        "--version",
        "-v",
        help="Version number or alias (default: the version `production` points to, "
        "else the latest).",
    ),
    out: Path = typer.Option(Path("deploy/chart"), "--out", help="Directory to write to."),
    name: str | None = _NAME,
    image: str = _IMAGE,
    replicas: int = _REPLICAS,
    max_replicas: int = _MAX_REPLICAS,
    cpu: str = _CPU,
    memory: str = _MEMORY,
    canary_version: str | None = _CANARY_VERSION,
    canary_weight: int = _CANARY_WEIGHT,
    prometheus_operator: bool = _PROMETHEUS_OPERATOR,
    control_plane: bool = typer.Option(
        False,
        "--control-plane",
        help="The chart of Shipyard's control plane (shipyard server) instead of a model's; "
        "takes --out and --image ({version}: Shipyard's).",
    ),
) -> None:
    """A Helm chart for a model version: the objects of `export kubernetes`, from values.

    The options give the values' defaults (image, replicas, resources, autoscaling, canary,
    monitoring); `helm install --set` or `-f` changes them; values.schema.json checks them.
    With --control-plane, the chart that runs `shipyard server` in the cluster it deploys to.
    """
    if control_plane:
        _control_plane_chart(ctx, model, out, image)
        return
    if model is None:
        raise InvalidInputError(
            "name the model to export: shipyard export helm MODEL",
            hint="or --control-plane for the chart of Shipyard's control plane",
        )
    from shipyard.deploy.request import check_deployment_name
    from shipyard.k8s.helm import write_chart
    from shipyard.k8s.manifests import Settings

    chosen, canary = _versions(model, version, canary_version, canary_weight)
    deployment = check_deployment_name(name or model)
    settings = Settings(deployment, image, None, replicas, max_replicas, cpu, memory)
    rules = _alert_rules(model)
    written = write_chart(
        out, settings, chosen, canary=canary, rules=rules, operator=prometheus_operator
    )
    for path in written:
        console.print(f"wrote {path}")
    serving = f"{chosen.model} version {chosen.version}"
    if canary is not None:
        serving += f", version {canary[0].version} as a {canary[1]} % canary"
    console.print(
        f"chart {deployment} ({serving}); install with "
        f"`helm install {deployment} {out} --namespace NAMESPACE --create-namespace "
        "--set image.repository=REGISTRY/IMAGE`"
    )


def _control_plane_chart(ctx: typer.Context, model: str | None, out: Path, image: str) -> None:
    """``export helm --control-plane``: refuses the model's options rather than ignore them."""
    from shipyard.images import CONTROL_PLANE_TAG
    from shipyard.images.control_plane import control_plane_tag
    from shipyard.k8s.control_plane import write_control_plane_chart

    def typed(name: str) -> bool:  # given on the command line (typer vendors click's enum)
        source = ctx.get_parameter_source(name)
        return source is not None and source.name == "COMMANDLINE"

    given = [
        f"--{name.replace('_', '-')}"
        for name in ctx.params
        if name not in ("model", "out", "image", "control_plane") and typed(name)
    ]
    if model is not None or given:
        raise InvalidInputError(
            f"--control-plane takes only --out and --image, not {', '.join(given) or model}",
            hint="the control plane's chart serves no model: export a model's chart apart",
        )
    out = out if typed("out") else Path("deploy/control-plane")
    image = image if typed("image") else CONTROL_PLANE_TAG
    chosen = control_plane_tag(image)
    for path in write_control_plane_chart(out, chosen):
        console.print(f"wrote {path}")
    console.print(
        f"chart of Shipyard's control plane (image {chosen}); make its Secrets, then "
        f"`helm install shipyard {out} --namespace shipyard --create-namespace "
        "--set artifacts.location=s3://BUCKET/PREFIX` (the install's notes say which)",
        soft_wrap=True,
    )


def _versions(
    model: str, version: str | None, canary_version: str | None, canary_weight: int
) -> tuple[ModelVersion, tuple[ModelVersion, int] | None]:
    """The version to serve (no ``version``: ``production``'s, else the latest) and the
    canary with its weight, if any."""
    from shipyard.refs import parse_ref
    from shipyard.registry import resolve

    with stores() as s:
        if version is not None:
            chosen = resolve(s, parse_ref(f"{model}:{version}"))
        else:
            try:
                chosen = resolve(s, parse_ref(f"{model}@production"))
            except NotFoundError:
                chosen = resolve(s, parse_ref(model))
        canary = None
        if canary_version is not None:
            canary = (resolve(s, parse_ref(f"{model}:{canary_version}")), canary_weight)
    return chosen, canary


def _alert_rules(model: str) -> list[AlertRule]:
    """The alert rules of the project here, when it is the model's."""
    from shipyard.project import find_project

    project = find_project(Path.cwd())
    if project is None or project.spec.model.name != model or not project.spec.monitor:
        return []
    return [a.rule() for a in project.spec.monitor.alerts]
