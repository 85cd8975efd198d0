"""One table of serving options feeds every surface, and the surfaces of a deploy request
agree: `shipyard serve`'s flags, a deployment's options (checked, then passed to its
server as flags), the server's configuration defaults; the CLI, the REST body, the
pipeline's `deploy:` section and the service's request."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer

from shipyard.cli.deploy import deploy_cmd
from shipyard.cli.serve import serve_cmd
from shipyard.deploy.request import DeployRequest
from shipyard.errors import InvalidInputError
from shipyard.k8s.target import MOST_PODS
from shipyard.pipeline.delivery import _REQUESTED
from shipyard.serving.config import BatchOptions, Limits, ServeConfig
from shipyard.serving.options import SERVE_OPTIONS
from shipyard.spec.schema import DeploySpec
from shipyard.store import DeploymentRecord, Desired
from shipyard.targets.local import MOST_WORKERS
from shipyard.targets.local_process import check_options, serve_command


def _serve_command() -> Any:
    app = typer.Typer()
    app.command("serve")(serve_cmd)
    return typer.main.get_command(app)


def _parsed(args: list[str]) -> dict[str, Any]:
    """What `shipyard serve` makes of ``args`` (its parameters, by name)."""
    command = _serve_command()
    with command.make_context("serve", args) as ctx:
        return dict(ctx.params)


def test_every_option_is_a_serve_flag_with_the_tables_default_and_range() -> None:
    params = {p.name: p for p in _serve_command().params}
    for option in SERVE_OPTIONS.values():
        param = params[option.name]
        assert option.flag in param.opts
        assert param.help == option.help
        if option.type in (int, float):
            assert param.default == option.default
            bounds = (getattr(param.type, "min", None), getattr(param.type, "max", None))
            assert bounds == (option.low, option.high)


def test_the_servers_configuration_starts_from_the_tables_defaults() -> None:
    config = ServeConfig("m", ("1",), {}, "d")
    configured = {
        "max_concurrent": config.max_concurrent,
        "max_body": Limits().max_body_bytes,
        "timeout": Limits().timeout_s,
        "max_batch_size": BatchOptions().max_batch_size,
        "max_latency_ms": BatchOptions().max_latency_ms,
        "max_queue": BatchOptions().max_queue,
        "threads": config.threads,
        "trust_pickle": config.trust_pickle,
    }
    for name, value in configured.items():
        assert value == SERVE_OPTIONS[name].default, name


@pytest.mark.parametrize("option", [o for o in SERVE_OPTIONS.values() if o.low is not None])
def test_a_deployment_option_is_checked_against_the_tables_range(option: Any) -> None:
    assert check_options({option.name: option.type(option.high)}) == {
        option.name: option.type(option.high)
    }
    below = option.low / 2 if option.type is float else option.low - 1
    expected = re.escape(f"from {option.low:g} to {option.high:g}")
    with pytest.raises(InvalidInputError, match=expected):
        check_options({option.name: below})


def test_a_deployments_options_reach_its_server_as_the_same_values(tmp_path: Path) -> None:
    given = {
        "max_concurrent": 7,
        "max_body": 1234,
        "timeout": 2.5,
        "max_batch_size": 5,
        "max_latency_ms": 3.5,
        "max_queue": 9,
        "threads": 3,
        "trust": ["a.B", "c.D"],
        "trust_pickle": True,
    }
    assert set(given) == set(SERVE_OPTIONS)  # every option of the table is tried
    record = DeploymentRecord(
        "d", "m", "local", "127.0.0.1", 8000, 1, "production", 600.0, check_options(given),
        Desired({"1": 100}), 1, (1,), 0, "t", "t",
    )  # fmt: skip
    command = serve_command(record, tmp_path / "admin.sock")
    parsed = _parsed(command[command.index("serve") + 1 :])
    assert {name: parsed[name] for name in given} == {**given, "trust": ("a.B", "c.D")}
    defaults = _parsed(serve_command(replace(record, options={}), tmp_path / "a.sock")[4:])
    assert {n: defaults[n] for n in given if n != "trust"} == {
        n: o.default for n, o in SERVE_OPTIONS.items() if n != "trust"
    }


def test_the_deploy_surfaces_name_the_same_request() -> None:
    requested = set(DeployRequest.model_fields)  # the REST body and the service's request
    cli = set(inspect.signature(deploy_cmd).parameters)
    assert requested - cli <= {"analysis", "options", "alias"}  # the CLI spells these out
    assert set(_REQUESTED) <= set(DeploySpec.model_fields) & requested


def test_replica_bounds_agree_with_the_targets() -> None:
    most = max(MOST_WORKERS, MOST_PODS)
    cli = inspect.signature(deploy_cmd).parameters["replicas"].default
    assert cli.max == most
    metadata = DeployRequest.model_fields["replicas"].metadata
    assert any(getattr(m, "le", None) == most for m in metadata)
    spec = DeploySpec.model_fields["replicas"].metadata  # the pipeline deploys locally
    assert any(getattr(m, "le", None) == MOST_WORKERS for m in spec)
