"""``shipyard image``: container images of registered versions, from their bundles."""

from __future__ import annotations

import typer

from shipyard.cli.common import console, stores
from shipyard.images import BUILDERS, DEFAULT_TAG

app = typer.Typer(
    help="Container images of registered versions (built by podman, buildah or docker).",
    no_args_is_help=True,
)


@app.command("build")
def build_cmd(
    ref: str = typer.Argument(..., help="The version: NAME:VERSION or NAME@ALIAS."),
    tag: str = typer.Option(
        DEFAULT_TAG, "--tag", "-t", help="The image's name; {model} and {version} are filled in."
    ),
    push: bool = typer.Option(False, "--push", help="Push the image to the registry in its tag."),
    builder: str | None = typer.Option(
        None,
        "--builder",
        help=f"{', '.join(BUILDERS)} (default: the first of them on PATH).",
    ),
    base_image: str | None = typer.Option(
        None,
        "--base-image",
        help="The image to build on (default: the spec's package.base_image when the bundle "
        "was made, python:3.11-slim unless set).",
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Push without TLS (always so for a registry on loopback: 127.0.0.1, localhost).",
    ),
) -> None:
    """Build a version's image from its bundle: pinned dependencies, code and model in
    separate layers, a non-root user, a health check and the version's lineage as labels."""
    from shipyard.images.build import ImageRequest, build_image
    from shipyard.refs import parse_ref
    from shipyard.registry import resolve

    request = ImageRequest(tag, builder, base_image, push, insecure)
    with stores() as opened:
        version = resolve(opened, parse_ref(ref))
        built = build_image(opened, version, request)
    pushed = f", pushed as {built.pushed_digest}" if built.pushed_digest else ""
    pushed = pushed or (", pushed" if push else "")
    console.print(f"built {built.tag} (image {built.image_id[:19]}){pushed}", soft_wrap=True)
