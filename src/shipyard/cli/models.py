"""``shipyard models``: list, show, versions, verify, download."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from shipyard.cli.common import (
    JSON_OPTION,
    console,
    describe_git,
    format_metrics,
    new_table,
    print_json,
    short,
    stores,
    when,
)
from shipyard.errors import IntegrityError, InvalidInputError
from shipyard.jsonio import to_data
from shipyard.refs import ModelRef, check_alias_name, check_model_name, parse_ref, parse_version
from shipyard.registry import requirements_of, resolve
from shipyard.registry.checkout import checkout, verify_version
from shipyard.store import ModelVersion

app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)


def _ref(name: str, version: str | None) -> ModelRef:
    """``NAME [VERSION|ALIAS]`` as two arguments, or ``NAME:V`` / ``NAME@ALIAS`` as one."""
    if version is None:
        return parse_ref(name)
    check_model_name(name)
    if version.removeprefix("v").isdigit():
        return ModelRef(name, version=parse_version(version))
    return ModelRef(name, alias=check_alias_name(version))


@app.command("list")
def list_models(as_json: bool = JSON_OPTION) -> None:
    """Every registered model with its latest version and aliases."""
    with stores() as opened:
        models = opened.metadata.list_models()
    if as_json:
        print_json(models)
        return
    if not models:
        console.print("no models yet: `shipyard register PATH --name NAME` adds one")
        return
    table = new_table("model", "versions", "latest", "aliases", "created")
    for m in models:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(
            m.name,
            str(m.version_count),
            f"v{m.latest_version}" if m.latest_version else "-",
            aliases or "-",
            when(m.created_at),
        )
    console.print(table)


def _show_version(v: ModelVersion, aliases: list[str]) -> None:
    d, lin = v, v.lineage
    console.print(
        f"[bold]{v.model} v{v.version}[/]" + (f"  ({', '.join(aliases)})" if aliases else "")
    )
    rows = [
        ("created", f"{when(v.created_at)} by {d.created_by}"),
        ("flavor", f"{d.flavor} ({d.entrypoint})"),
        ("content", d.content_digest),
        ("description", d.description or "-"),
        ("git", describe_git(lin)),
        ("source", lin.source or "-"),
        ("python", f"{lin.python} on {lin.platform}"),
        ("requirements", short(lin.requirements_digest)),
        ("params", ", ".join(f"{k}={val}" for k, val in d.params.items()) or "-"),
        ("metrics", format_metrics(d.metrics)),
        ("tags", ", ".join(f"{k}={val}" for k, val in d.tags.items()) or "-"),
    ]
    if d.signature is not None:
        for kind, specs in (("inputs", d.signature.inputs), ("outputs", d.signature.outputs)):
            rows.append((kind, ", ".join(f"{t.name} {t.datatype}{list(t.shape)}" for t in specs)))
    for artifact in d.artifacts:
        rows.append(("file", f"{artifact.path}  {artifact.size:,} B  {short(artifact.digest)}"))
    table = Table(show_header=False, box=None, pad_edge=False)
    for key, value in rows:
        table.add_row(f"[dim]{key}[/]", value)
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Model name, or NAME:VERSION / NAME@ALIAS."),
    version: str | None = typer.Argument(None, help="Version number or alias (default: latest)."),
    requirements: bool = typer.Option(
        False, help="Print the pinned package list recorded with it."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """One version in full: lineage, params, metrics, signature, files."""
    ref = _ref(name, version)
    with stores() as opened:
        v = resolve(opened, ref)
        summary = opened.metadata.get_model(ref.model)
        pins = requirements_of(opened, v) if requirements else None
    if pins is not None:
        sys.stdout.write(pins)
        return
    aliases = sorted(a for a, n in summary.aliases.items() if n == v.version)
    if as_json:
        print_json({**to_data(v), "aliases": aliases})
        return
    _show_version(v, aliases)


@app.command("versions")
def versions(
    name: str = typer.Argument(..., help="Model name."), as_json: bool = JSON_OPTION
) -> None:
    """Every version of a model, oldest first."""
    check_model_name(name)
    with stores() as opened:
        found = opened.metadata.list_versions(name)
        aliases = opened.metadata.get_model(name).aliases
    if as_json:
        print_json(found)
        return
    by_version: dict[int, list[str]] = {}
    for alias, number in aliases.items():
        by_version.setdefault(number, []).append(alias)
    table = new_table("version", "created", "by", "git", "metrics", "aliases")
    for v in found:
        lin = v.lineage
        git = "-" if lin.git_commit is None else lin.git_commit[:8] + ("*" if lin.git_dirty else "")
        table.add_row(
            f"v{v.version}",
            when(v.created_at),
            v.created_by,
            git,
            format_metrics(v.metrics),
            ", ".join(sorted(by_version.get(v.version, []))) or "-",
        )
    console.print(table)


@app.command("verify")
def verify(
    name: str = typer.Argument(..., help="Model name, or NAME:VERSION / NAME@ALIAS."),
    version: str | None = typer.Argument(
        None, help="Version number or alias (default: every version)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-hash stored artifacts; exit 5 if any no longer matches its digest."""
    ref = _ref(name, version)
    with stores() as opened:
        targets = (
            [resolve(opened, ref)]
            if ref.version or ref.alias
            else opened.metadata.list_versions(ref.model)
        )
        results = [(v, verify_version(opened, v)) for v in targets]
    bad = [(v, p) for v, problems in results for p in problems]
    if as_json:
        print_json(
            [
                {
                    "model": v.model,
                    "version": v.version,
                    "path": p.path,
                    "digest": p.digest,
                    "error": p.error,
                }
                for v, p in bad
            ]
        )
    else:
        for v, problems in results:
            status = "[green]ok[/]" if not problems else f"[red]{len(problems)} bad[/]"
            console.print(f"{v.model} v{v.version}: {status}")
            for p in problems:
                console.print(f"  {p.path}: {p.error}")
    if bad:
        raise IntegrityError(f"{len(bad)} artifact(s) failed verification")


@app.command("download")
def download(
    name: str = typer.Argument(..., help="Model name, or NAME:VERSION / NAME@ALIAS."),
    version: str | None = typer.Argument(None, help="Version number or alias (default: latest)."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Directory to write the files to (must not exist)."
    ),
) -> None:
    """Write a version's files (digest-verified) to a directory."""
    if out.exists():
        raise InvalidInputError(f"{out} already exists", hint="choose a new directory for --out")
    with stores() as opened:
        v = resolve(opened, _ref(name, version))
        checkout(opened, v, out.resolve())
    console.print(f"{v.model} v{v.version}: {len(v.artifacts)} file(s) written to {out}")
