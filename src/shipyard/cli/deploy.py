"""``shipyard deploy / status / promote / abort / rollback / undeploy``: the CLI side of the
control plane. Each command is one call to ``shipyard server``'s REST API (started in
the background if it is not running); ``deploy`` then follows the rollout."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import typer

from shipyard.cli.common import (
    JSON_OPTION,
    console,
    describe_split,
    err_console,
    home,
    new_table,
    print_json,
)
from shipyard.errors import InvalidInputError, RolloutFailed, ShipyardError
from shipyard.units import format_duration, parse_duration

if TYPE_CHECKING:
    from shipyard.client.documents import DeploymentStatus, RolloutView
    from shipyard.client.rest import ServerClient


def _client() -> ServerClient:
    from shipyard.client.connection import connect  # the HTTP client: only when called

    return connect(home())


def _duration(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as err:
        raise InvalidInputError(f"{option}: {err}") from None


def _version(value: str) -> int | str:
    return int(value) if value.isascii() and value.isdigit() else value


def deploy_cmd(
    model: str = typer.Argument(..., help="The registered model to deploy."),
    version: str = typer.Option(
        ..., "--version", "-v", help="Version number, or an alias such as 'candidate'."
    ),
    name: str | None = typer.Option(None, help="Deployment name (default: the model's name)."),
    strategy: str = typer.Option(
        "rolling", help="recreate, rolling, blue-green, canary or shadow."
    ),
    steps: str | None = typer.Option(None, help="Canary traffic steps in percent: 10,50,100."),
    interval: str | None = typer.Option(
        None, help="Wait and analyse this long at each step (30s, 5m); none: pause for promote."
    ),
    shadow_percent: int = typer.Option(
        100, min=1, max=100, help="Shadow strategy: percent of traffic copied."
    ),
    port: int | None = typer.Option(
        None, min=1, max=65535, help="Port of a new deployment (default: next free from 8000)."
    ),
    host: str | None = typer.Option(
        None, help="Address the deployment listens on (new: 127.0.0.1).", show_default=False
    ),
    replicas: int | None = typer.Option(
        None,
        min=1,
        max=1000,
        help="Worker processes, 1-64 (new: 1; a change needs recreate); on Kubernetes, pods "
        "(new: 2).",
    ),
    memory: str | None = typer.Option(
        None, help="Address-space limit of each server process (2GiB), where the OS allows."
    ),
    open_files: int | None = typer.Option(None, min=16, help="Open-file limit of the server."),
    rollback_window: str | None = typer.Option(
        None, help="Keep the previous version warm this long, for an instant rollback (10m)."
    ),
    max_error_rate: float = typer.Option(0.01, min=0, max=1, help="Analysis: error rate limit."),
    max_p99_latency: str | None = typer.Option(None, help="Analysis: p99 latency limit (250ms)."),
    min_requests: int = typer.Option(
        20, min=1, help="Analysis: requests a step needs before it can pass."
    ),
    rule: list[str] | None = typer.Option(
        None, help="Analysis rule, e.g. 'p95_latency < 100ms' (repeatable)."
    ),
    on_resume: str = typer.Option(
        "continue", help="If the control plane restarts mid-rollout: continue or abort."
    ),
    force: bool = typer.Option(False, help="Deploy a version that failed its quality gates."),
    reason: str = typer.Option("", help="Why, for the event log."),
    wait: bool = typer.Option(True, help="Follow the rollout until it ends or pauses."),
    target: str | None = typer.Option(
        None, help="local or kubernetes (new: local; an existing deployment keeps its own)."
    ),
    context: str | None = typer.Option(
        None, help="Kubernetes: kubeconfig context (default: the current one)."
    ),
    namespace: str | None = typer.Option(
        None, help="Kubernetes: namespace (default: the context's, else 'default')."
    ),
    kubeconfig: str | None = typer.Option(
        None, help="Kubernetes: kubeconfig file(s) (default: $KUBECONFIG, else ~/.kube/config)."
    ),
    image: str | None = typer.Option(
        None, help="Kubernetes: the pods' image; {model} and {version} are filled in."
    ),
    cpu: str | None = typer.Option(None, help="Kubernetes: CPU request per pod (500m)."),
    max_replicas: int | None = typer.Option(
        None, min=1, max=1000, help="Kubernetes: the autoscaler's maximum pods."
    ),
    rollout_timeout: str | None = typer.Option(
        None, help="Kubernetes: how long pods may take to become ready (5m)."
    ),
    gateway: str | None = typer.Option(
        None,
        help="Kubernetes: a Gateway API Gateway ([namespace/]name) for exact canary weights "
        "(default: split by pods).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Roll a version out: canary steps with analysis, blue-green, rolling, shadow or recreate."""
    where: dict[str, Any] = {"--context": context, "--namespace": namespace}
    where |= {"--kubeconfig": kubeconfig}
    settings: dict[str, Any] = {"--image": image, "--cpu": cpu, "--max-replicas": max_replicas}
    settings |= {"--rollout-timeout": rollout_timeout, "--gateway": gateway}
    given = [k for k, v in {**where, **settings}.items() if v is not None]
    access = None
    if target == "kubernetes":  # resolved here, where the user's KUBECONFIG is
        from shipyard.k8s.cluster import resolve_access

        access = resolve_access(kubeconfig, context, namespace).to_data()
    client = _client()
    existing = _existing(client, name or model)
    on_cluster = target == "kubernetes" or (
        target is None and existing is not None and existing["target"] == "kubernetes"
    )
    options: dict[str, Any] = {}
    if on_cluster:
        cluster = _cluster_options(image, cpu, memory, max_replicas, rollout_timeout, gateway)
        if access is not None and (existing is None or any(where.values())):
            cluster["access"] = access  # a new deployment's place (an existing one keeps its own)
        options["kubernetes"] = cluster
        memory = None  # on a cluster --memory is the pods' memory, not a process limit
    elif given:
        raise InvalidInputError(
            f"{', '.join(given)} apply to deployments on --target kubernetes",
            hint="add --target kubernetes for a new deployment on a cluster",
        )
    body: dict[str, Any] = {
        "model": model,
        "version": _version(version),
        "name": name,
        "strategy": strategy,
        "steps": None if steps is None else _steps(steps),
        "interval": _duration(interval, "--interval"),
        "shadow_percent": shadow_percent,
        "port": port,
        "host": host,
        "replicas": replicas,
        "options": {**_limits(memory, open_files), **options},
        "target": target,
        "rollback_window": _duration(rollback_window, "--rollback-window"),
        "analysis": {
            "max_error_rate": max_error_rate,
            "max_p99_latency": _duration(max_p99_latency, "--max-p99-latency"),
            "min_requests": min_requests,
            "rules": rule or [],
        },
        "on_resume": on_resume,
        "force": force,
        "reason": reason,
    }
    rollout = client.deploy(body, existing is not None, lambda name: _watch(client, name, model))
    deployment = rollout["deployment"]
    if not wait:
        if as_json:
            print_json(rollout)
        else:
            console.print(
                f"rollout {rollout['id']} of {deployment} started ({rollout['strategy']})"
            )
        return
    status = client.follow(
        deployment, rollout["id"], (lambda _, __: None) if as_json else _progress
    )
    if as_json:
        print_json(status)
    _exit_for(status)


def _watch(client: ServerClient, deployment: str, model: str) -> None:
    """Run in the model's project, attach its `monitor:` rules to the deployment."""
    from pathlib import Path

    from shipyard.project import find_project
    from shipyard.spec.monitor_config import attach_call, monitor_section

    try:
        project = find_project(Path.cwd())
    except ShipyardError:
        return  # a broken spec elsewhere does not stop a deploy of a registered version
    if project is None or project.spec.model.name != model or project.spec.monitor is None:
        return
    try:
        section = monitor_section(project.spec.monitor)
        client.call(*attach_call(deployment, section, project.root))
    except ShipyardError as err:  # the rollout is under way: say so, and carry on
        err_console.print(f"[yellow]warning:[/] the project's alerts were not attached: {err}")


def _existing(client: ServerClient, name: str) -> DeploymentStatus | None:
    """The deployment's status, or None if there is none of that name yet."""
    try:
        found = cast("DeploymentStatus", client.call("GET", f"deployments/{name}"))
    except ShipyardError:
        return None  # not there (or a bad name: the deploy call says so)
    return found


def _cluster_options(
    image: str | None,
    cpu: str | None,
    memory: str | None,
    max_replicas: int | None,
    rollout_timeout: str | None,
    gateway: str | None,
) -> dict[str, Any]:
    """The pods' settings given for a deployment on a cluster."""
    from shipyard.k8s.manifests import check_quantity

    options: dict[str, Any] = {}
    if gateway is not None:
        options["gateway"] = gateway
    if image is not None:
        options["image"] = image
    if cpu is not None:
        options["cpu"] = check_quantity(cpu, "--cpu")
    if memory is not None:
        options["memory"] = check_quantity(memory.removesuffix("B"), "--memory")
    if max_replicas is not None:
        options["max_replicas"] = max_replicas
    if rollout_timeout is not None:
        options["timeout"] = _duration(rollout_timeout, "--rollout-timeout")
    return options


def _limits(memory: str | None, open_files: int | None) -> dict[str, int]:
    from shipyard.units import parse_size

    limits: dict[str, int] = {}
    if memory is not None:
        try:
            limits["memory"] = parse_size(memory)
        except ValueError as err:
            raise InvalidInputError(f"--memory: {err}") from None
    if open_files is not None:
        limits["open_files"] = open_files
    return limits


def _steps(text: str) -> list[int]:
    from shipyard.expressions.rollout_steps import parse_steps

    return list(parse_steps(text))


def _progress(status: DeploymentStatus, r: RolloutView) -> None:
    arrow = (
        f"v{r['from_version']} → v{r['to_version']}" if r["from_version"] else f"v{r['to_version']}"
    )
    if r["state"] == "loading":
        console.print(f"{status['name']}: {r['strategy']} {arrow}: loading v{r['to_version']}")
    elif r["state"] in ("progressing", "paused"):
        weights = ", ".join(f"v{v} {w}%" for v, w in status["desired"]["weights"].items())
        weights += _by_pods(status, str(r["to_version"]))
        shadow = ", ".join(f"v{v} {p}%" for v, p in status["desired"]["shadow"].items())
        console.print(
            f"  step {r['step']}/{r['steps']}: {weights}"
            + (f"; shadow {shadow}" if shadow else "")
            + (" — paused" if r["state"] == "paused" else "")
        )
    if r["analysis"] and r["state"] != "loading":
        console.print(f"  analysis: {describe_analysis(r['analysis'])}")


def _by_pods(status: DeploymentStatus, version: str) -> str:
    """On a cluster without a Gateway, the pods that carry a canary's share of traffic."""
    cluster = status.get("cluster")
    share = status["desired"]["weights"].get(version, 100)
    if not cluster or cluster["gateway"] or share >= 100:
        return ""
    from shipyard.k8s.manifests import split

    stable, canary = split(status["replicas"], share)
    return f" (by pods: {canary} of {stable + canary} run v{version})"


def describe_analysis(a: dict[str, Any]) -> str:
    """One line: verdict and the numbers it was made on."""
    new, stable = a.get("new") or {}, a.get("stable") or {}

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 1000:.1f} ms"

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.2f} %"

    text = (
        f"{a['verdict']}: {new.get('requests', 0)} requests, errors {pct(new.get('error_rate'))}, "
        f"p99 {ms(new.get('p99_latency'))} (stable {ms(stable.get('p99_latency'))})"
    )
    if new.get("shadow_compared"):
        text += f", shadow mismatch {pct(new.get('shadow_mismatch_rate'))}"
    return text + (f" — {a['note']}" if a.get("note") else "")


def _exit_for(status: DeploymentStatus) -> None:
    r = status["rollout"]
    if r is None:
        raise RolloutFailed(f"deployment {status['name']} has no rollout any more")
    if r["state"] == "succeeded":
        warm = status["desired"]["warm"]
        kept = f" (v{', v'.join(warm)} kept warm for rollback)" if warm else ""
        console.print(f"v{r['to_version']} serves all traffic on {status['url']}{kept}")
    elif r["state"] == "paused":
        console.print(
            f"paused at step {r['step']}/{r['steps']}: `shipyard promote {status['name']}` to go "
            f"on, `shipyard abort {status['name']}` to go back"
        )
    else:
        raise RolloutFailed(
            f"rollout {r['id']} of {status['name']} {r['state']}: {r['error']}",
            hint=f"v{status['stable']} still serves all traffic" if status["stable"] else None,
        )


def status_cmd(
    name: str | None = typer.Argument(None, help="One deployment (default: all)."),
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh every second."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Desired against observed: versions, weights, replicas, health, rollout step, analysis."""
    client = _client()

    def fetch() -> list[DeploymentStatus]:
        if name:
            return [client.call("GET", f"deployments/{name}")]
        result = cast("list[DeploymentStatus]", client.call("GET", "deployments"))
        return result

    if as_json and not watch:
        data = fetch()
        print_json(data[0] if name else data)
        return
    if not watch:
        console.print(_status_table(fetch()))
        return
    from rich.live import Live

    with Live(_status_table(fetch()), console=console, refresh_per_second=2) as live:
        try:
            while True:
                time.sleep(1)
                live.update(_status_table(fetch()))
        except KeyboardInterrupt:
            pass


def _status_table(statuses: list[DeploymentStatus]) -> Any:
    if not statuses:
        return "no deployments yet: `shipyard deploy MODEL --version N`"
    table = new_table("deployment", "url", "stable", "traffic", "warm", "replicas", "rollout")
    for s in statuses:
        obs = s["observed"]
        desired = s["desired"]
        routed = desired["weights"] or desired["shadow"]
        weights = describe_split(desired["weights"], desired["shadow"]) if routed else "-"
        warm = ", ".join(
            f"v{v} {format_duration(max(0.0, until - time.time()))}"
            for v, until in s["desired"]["warm"].items()
        )
        ready = sum(1 for w in obs["workers"] if w.get("ready"))
        health = f"{ready}/{s['replicas']} ready" if obs["running"] else "[red]down[/]"
        if not s["in_sync"] and obs["running"]:
            health += " (syncing)"
        if s.get("problem"):
            health += f"\n[red]{s['problem']}[/]"
        r = s["rollout"]
        rollout = "-"
        if r is not None:
            rollout = f"{r['strategy']} v{r['to_version']}: {r['state']}"
            if r["active"]:
                rollout += f", step {r['step']}/{r['steps']}"
            if r["analysis"]:
                rollout += f"\n{describe_analysis(r['analysis'])}"
            if r["error"] and not r["active"]:
                rollout += f"\n{r['error']}"
        change = s["last_change"]
        if change is not None and change["kind"] in (
            "deployment.rolled_back",
            "deployment.traffic",
        ):
            what = "rolled back" if change["kind"] == "deployment.rolled_back" else "split by hand"
            rollout += f"\nthen {what} by {change['actor']}: {change['reason']}"
        stable = "-" if s["stable"] is None else f"v{s['stable']}"
        table.add_row(s["name"], s["url"], stable, weights, warm or "-", health, rollout)
    return table


def promote_cmd(
    name: str = typer.Argument(..., help="Deployment."),
    full: bool = typer.Option(False, "--full", help="Skip every remaining step: all traffic now."),
    reason: str = typer.Option("", help="Why, for the event log."),
) -> None:
    """On to the rollout's next step now, without waiting or analysing (--full: to the end)."""
    body = {"full": full, "reason": reason}
    r = _client().call("POST", f"deployments/{name}/promote", body)
    where = "all traffic" if r["state"] == "succeeded" else f"step {r['step'] + 1}, {r['state']}"
    console.print(f"{name}: v{r['to_version']} promoted: {where}")


def abort_cmd(
    name: str = typer.Argument(..., help="Deployment."),
    reason: str = typer.Option("", help="Why, for the event log."),
) -> None:
    """Return all traffic to the stable version and unload the new one."""
    r = _client().call("POST", f"deployments/{name}/abort", {"reason": reason})
    console.print(f"{name}: rollout to v{r['to_version']} aborted; v{r['from_version']} serves")


def rollback_cmd(
    name: str = typer.Argument(..., help="Deployment."),
    to: int | None = typer.Option(None, "--to", min=1, help="Version to go back to."),
    reason: str = typer.Option("", help="Why, for the event log."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Traffic (and the production alias) back to the previous version — instant when warm."""
    started = time.perf_counter()
    status = _client().call("POST", f"deployments/{name}/rollback", {"to": to, "reason": reason})
    if as_json:
        print_json(status)
        return
    console.print(
        f"{name}: v{status['stable']} serves all traffic ({time.perf_counter() - started:.2f} s)"
    )


def traffic_cmd(
    name: str = typer.Argument(..., help="Deployment."),
    weights: str = typer.Argument(..., help="Percent per version, summing to 100: 3=90,4=10."),
    shadow: str | None = typer.Option(None, help="Shadow copies: 5=20 (percent of traffic)."),
    reason: str = typer.Option("", help="Why, for the event log."),
) -> None:
    """Set a traffic split by hand (an A/B test); versions not loaded are loaded first."""
    from shipyard.serving.routing import parse_shares

    body = {
        "weights": parse_shares(weights, "WEIGHTS"),
        "shadow": parse_shares(shadow, "--shadow") if shadow else {},
        "reason": reason,
    }
    status = _client().call("PUT", f"deployments/{name}/traffic", body)
    split = ", ".join(f"v{v} {w}%" for v, w in status["desired"]["weights"].items())
    console.print(f"{name}: {split}")


def undeploy_cmd(
    name: str = typer.Argument(..., help="Deployment."),
    reason: str = typer.Option("", help="Why, for the event log."),
    force: bool = typer.Option(
        False, help="Forget it even if its target cannot be reached (what runs there stays)."
    ),
) -> None:
    """Stop a deployment's server (or delete its objects on a cluster) and delete the
    deployment (its events stay)."""
    from urllib.parse import urlencode

    query = urlencode({"reason": reason, "force": str(force).lower()})
    _client().call("DELETE", f"deployments/{name}?{query}")
    console.print(f"{name}: stopped and deleted")
