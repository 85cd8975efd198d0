"""``shipyard init`` and ``shipyard register``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from shipyard.cli.common import (
    JSON_OPTION,
    console,
    describe_git,
    err_console,
    format_metrics,
    parse_metrics,
    parse_pairs,
    parse_value,
    print_json,
    short,
    stores,
)
from shipyard.errors import InvalidInputError
from shipyard.flavors import FLAVOR_NAMES, TrustPolicy
from shipyard.jsonio import to_data
from shipyard.project.scaffold import init_project
from shipyard.refs import check_alias_name
from shipyard.registry import RegisterOptions, Registration, register
from shipyard.registry.aliases import set_alias
from shipyard.signature import Signature


def init(
    directory: Path = typer.Argument(Path(), help="Project directory (created if missing)."),
    name: str | None = typer.Option(None, help="Model name (default: the directory's name)."),
    force: bool = typer.Option(False, help="Overwrite files that already exist."),
) -> None:
    """Scaffold a project: shipyard.yaml, model.py, train.py and .gitignore, in a git repo."""
    made = init_project(directory, name, force=force)
    console.print(f"created {', '.join(made.files)} in {made.directory}")
    if made.git_initialised:
        console.print("initialised a git repository (branch main)")
    console.print(
        f"next: cd {made.directory} && python train.py && shipyard register", style="bold"
    )


def _read_signature(path: Path) -> Signature:
    try:
        return Signature.from_dict(json.loads(path.read_text()), where=str(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"signature file {path}: {err}") from None


def _render(result: Registration) -> None:
    v = result.version
    lineage = v.lineage
    if result.created:
        digest = short(v.content_digest)
        console.print(f"registered [bold]{v.model} v{v.version}[/] ({v.flavor}, {digest})")
    else:
        console.print(
            f"identical content is already [bold]{v.model} v{v.version}[/]: nothing registered"
        )
    if lineage.git_commit:
        console.print(f"  from git {describe_git(lineage, 10)}")
    if v.metrics:
        console.print(f"  metrics: {format_metrics(v.metrics)}")


def register_cmd(
    path: Path | None = typer.Argument(
        None, help="Model file or directory (default: model.path from shipyard.yaml)."
    ),
    name: str | None = typer.Option(
        None, "--name", "-n", help="Model name (default: from shipyard.yaml)."
    ),
    flavor: str | None = typer.Option(
        None, help=f"One of {', '.join(FLAVOR_NAMES)}; guessed from the file if omitted."
    ),
    entrypoint: str | None = typer.Option(
        None, help="Main file in a directory, or module:Class for a custom model."
    ),
    metric: list[str] | None = typer.Option(None, "--metric", "-m", help="NAME=NUMBER; repeat."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="NAME=VALUE; repeat."),
    tag: list[str] | None = typer.Option(None, "--tag", "-t", help="NAME=VALUE; repeat."),
    metrics_file: Path | None = typer.Option(None, help="JSON file of {name: number} metrics."),
    signature_file: Path | None = typer.Option(
        None, "--signature", help="JSON file with the input/output signature."
    ),
    infer_signature: bool = typer.Option(True, help="Load the model to record its signature."),
    reference: Path | None = typer.Option(
        None,
        help="Inputs (.npy or .csv, rows x features) to keep a per-feature summary of, for "
        "drift checks by the server.",
    ),
    description: str | None = typer.Option(None, help="What this version is."),
    alias: str | None = typer.Option(None, help="Also point this alias at the version."),
    reason: str = typer.Option("", help="Why (recorded with the alias move)."),
    trust: list[str] | None = typer.Option(
        None, help="Extra type a skops file may contain; repeat."
    ),
    trust_pickle: bool = typer.Option(
        False, help="Allow pickle-based files (they can run any code)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register a model file or directory as a new immutable version, with lineage."""
    from shipyard.project import find_project, read_metrics_file, register_options  # (yaml)

    project = find_project(Path.cwd())
    options = RegisterOptions()
    source = path
    spec_name = None
    # The project's spec supplies defaults only for a model of that project.
    if project is not None and (path is None or path.resolve().is_relative_to(project.root)):
        spec_name, spec_source, options = register_options(project)
        source = source or spec_source
    if source is None:
        raise InvalidInputError(
            "no model to register: give a PATH, or run inside a project with shipyard.yaml"
        )
    model_name = name or spec_name
    if model_name is None:
        raise InvalidInputError("no model name", hint="pass --name NAME")
    options.flavor = flavor or options.flavor
    options.entrypoint = entrypoint or options.entrypoint
    options.params |= {k: parse_value(v) for k, v in parse_pairs(param, "--param").items()}
    if metrics_file is not None:
        options.metrics |= read_metrics_file(metrics_file)
    options.metrics |= parse_metrics(parse_pairs(metric, "--metric"))
    options.tags |= parse_pairs(tag, "--tag")
    options.description = description if description is not None else options.description
    options.signature = _read_signature(signature_file) if signature_file else None
    options.infer_signature = infer_signature
    if reference is not None:
        from shipyard.reference_summary import read_inputs, summarize

        options.reference = summarize(read_inputs(reference), where=str(reference))
    options.trust = TrustPolicy(types=(*options.trust.types, *(trust or [])), pickle=trust_pickle)
    if alias is not None:
        check_alias_name(alias)  # before anything is written, so a bad alias registers nothing
    with (
        stores() as opened,
        err_console.status(f"registering {source} (hashing, storing, reading the signature)…"),
    ):
        result = register(opened, source, model_name, options)
        moved = None
        if alias is not None:
            moved = set_alias(opened, model_name, alias, result.version.version, reason=reason)
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", style="yellow")
    if as_json:
        print_json(
            {
                "created": result.created,
                "warnings": list(result.warnings),
                **to_data(result.version),
            }
        )
        return
    _render(result)
    if moved is not None:
        console.print(f"  {model_name}@{alias} → v{result.version.version}")
