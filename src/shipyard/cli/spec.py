"""``shipyard spec``: the project spec's schema and a checker."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import JSON_OPTION, console, print_json
from shipyard.errors import SpecError

app = typer.Typer(help="The project spec, shipyard.yaml.", no_args_is_help=True)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of shipyard.yaml (for editors and CI)."""
    from shipyard.spec import json_schema

    print_json(json_schema())


@app.command("check")
def check(
    path: Path | None = typer.Argument(
        None, help="Spec file (default: the nearest shipyard.yaml)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate a spec; exit 2 with the line and the expected value if it is wrong."""
    from shipyard.spec import SPEC_FILE, find_spec, load_spec

    found = path or find_spec(Path.cwd())
    if found is None:
        raise SpecError(
            f"no {SPEC_FILE} here or in any parent directory",
            hint="run `shipyard init` to create one",
        )
    spec = load_spec(found)
    if as_json:
        print_json(spec.model_dump(mode="json"))
    else:
        console.print(f"{found}: ok (model {spec.model.name})")
