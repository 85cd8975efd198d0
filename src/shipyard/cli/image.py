"""``shipyard image``: container images of registered versions, from their bundles."""

from __future__ import annotations

import typer

from shipyard.cli.common import console, stores
from shipyard.errors import InvalidInputError
from shipyard.images import BUILDERS, CONTROL_PLANE_TAG, DEFAULT_TAG

app = typer.Typer(
    help="Container images of registered versions (built by podman, buildah or docker).",
    no_args_is_help=True,
)


@app.command("build")
def build_cmd(
    ref: str | None = typer.Argument(None, help="The version: NAME:VERSION or NAME@ALIAS."),
    control_plane: bool = typer.Option(
        False,
        "--control-plane",
        help="Build the control plane's image (shipyard server) instead of a version's.",
    ),
    tag: str | None = typer.Option(
        None,
        "--tag",
        "-t",
        help=f"The image's name; {{model}} and {{version}} are filled in (default: {DEFAULT_TAG}; "
        f"with --control-plane {CONTROL_PLANE_TAG}, {{version}} Shipyard's).",
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
        "was made, python:3.11-slim unless set; python:3.11-slim for --control-plane).",
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Push without TLS (always so for a registry on loopback: 127.0.0.1, localhost).",
    ),
) -> None:
    """Build a version's image from its bundle: pinned dependencies, code and model in
    separate layers, a non-root user, a health check and the version's lineage as labels.

    With --control-plane, the image of `shipyard server` for a cluster (its chart:
    `shipyard export helm --control-plane`).
    """
    from shipyard.images.build import ImageRequest, build_image

    if control_plane == (ref is not None):
        raise InvalidInputError(
            "name a version to build (NAME:VERSION), or --control-plane, not both"
            if control_plane
            else "name the version to build: NAME:VERSION or NAME@ALIAS",
            hint="e.g. `shipyard image build digits:4`, or `shipyard image build --control-plane`",
        )
    if ref is None:
        from shipyard.images.control_plane import build_control_plane

        request = ImageRequest(tag or CONTROL_PLANE_TAG, builder, base_image, push, insecure)
        built = build_control_plane(request)
    else:
        from shipyard.refs import parse_ref
        from shipyard.registry import resolve

        request = ImageRequest(tag or DEFAULT_TAG, builder, base_image, push, insecure)
        with stores() as opened:
            built = build_image(opened, resolve(opened, parse_ref(ref)), request)
    pushed = f", pushed as {built.pushed_digest}" if built.pushed_digest else ""
    pushed = pushed or (", pushed" if push else "")
    console.print(f"built {built.tag} (image {built.image_id[:19]}){pushed}", soft_wrap=True)
