"""``shipyard store``: move a registry between stores (a laptop's home into a team's)."""

from __future__ import annotations

import typer

from shipyard.cli.common import JSON_OPTION, console, err_console, print_json

app = typer.Typer(help="The stores themselves: copy a registry into another.", no_args_is_help=True)


@app.command("copy")
def copy_cmd(
    source: str = typer.Option(
        ..., "--from", help="A Shipyard home (~/.shipyard), an SQLite file or a postgresql:// URL."
    ),
    target: str = typer.Option(
        ..., "--to", help="A postgresql:// URL, a Shipyard home or an SQLite file."
    ),
    artifacts: str | None = typer.Option(
        None,
        "--artifacts",
        help="The target's artifact store: a directory or s3://BUCKET/PREFIX (default: the "
        "target home's artifacts/).",
    ),
    source_artifacts: str | None = typer.Option(
        None,
        "--from-artifacts",
        help="The source's artifact store (default: the source home's artifacts/).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Copy versions (numbers, times, lineage), aliases with their history, events, runs
    and the stage cache, and every blob they name, verified; safe to re-run.

    Deployments, monitors and tokens stay with the store they belong to.
    """
    from shipyard.store.location import open_location

    src = open_location(source, source_artifacts)
    try:
        dst = open_location(target, artifacts)
        try:
            from shipyard.store.sql.copy import copy_registry

            report = copy_registry(
                src.database,
                src.artifacts,
                dst.database,
                dst.artifacts,
                on_blob=None
                if as_json
                else lambda d, n: err_console.print(f"  blob {d[7:19]} {n:,} B"),
            )
        finally:
            dst.close()
    finally:
        src.close()
    if as_json:
        print_json(report)
        return
    console.print(
        f"copied {report.versions} version(s) of {report.models} new model(s), "
        f"{report.alias_moves} alias move(s), {report.events} event(s), {report.runs} run(s), "
        f"{report.cache_entries} cache entr(ies) and {report.blobs} blob(s) "
        f"({report.blob_bytes:,} B); {report.skipped_versions} version(s) were already there"
    )
    console.print(f"not copied (they belong to their store): {', '.join(report.not_copied)}")


def _blob_progress(digest: str, size: int) -> None:
    err_console.print(f"  blob {digest[7:19]} {size:,} B")
