"""Building (and pushing) a registered version's image: context, builder, tag."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from shipyard.errors import InvalidInputError
from shipyard.images.builders import (
    Builder,
    find_builder,
    is_loopback,
    registry_host,
    run_streamed,
)
from shipyard.images.context import Context, read_bundle, write_context
from shipyard.store import ModelVersion, Stores


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """What to build: the image's tag (a template), its base, whether and how to push it."""

    tag: str
    builder: str | None = None  # None: the first of BUILDERS on PATH
    base_image: str | None = None  # None: the one the bundle's Dockerfile names
    push: bool = False
    insecure: bool = False  # push without TLS (always so for a registry on loopback)


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """A built image: its tag and ID, and the digest it was pushed as (None if not pushed)."""

    tag: str
    image_id: str
    builder: str
    pushed_digest: str | None = None


def image_tag(template: str, version: ModelVersion) -> str:
    """The tag for ``version``: ``{model}`` and ``{version}`` filled in."""
    try:
        return template.format(model=version.model, version=version.version)
    except (KeyError, IndexError, ValueError):
        raise InvalidInputError(
            f"--tag {template!r}: the only placeholders are {{model}} and {{version}}",
            hint="e.g. --tag registry.example/{model}:{version}",
        ) from None


def _push_registry(tag: str) -> str:
    """The registry a pushed tag goes to; refuses a tag that names none."""
    host = registry_host(tag)
    if host is None:
        raise InvalidInputError(
            f"--push: {tag!r} names no registry to push to",
            hint="give the registry in the tag, e.g. --tag registry.example/{model}:{version} "
            "or --tag 127.0.0.1:5000/{model}:{version}",
        )
    return host


def _without_tls(host: str, request: ImageRequest, builder: Builder) -> bool:
    """Whether a push goes without TLS: asked for, or a registry on loopback (as docker
    does by itself)."""
    if request.insecure and builder.name == "docker" and not is_loopback(host):
        raise InvalidInputError(
            "--insecure: docker takes registries without TLS from its daemon's configuration",
            hint=f'add "{host}" to "insecure-registries" in /etc/docker/daemon.json',
        )
    return request.insecure or is_loopback(host)


def build_image(
    stores: Stores, version: ModelVersion, request: ImageRequest, out: TextIO | None = None
) -> BuiltImage:
    """Build ``version``'s image from its bundle; push it if asked. The builder's output
    goes to ``out`` (default: stdout) as it comes."""
    tag = image_tag(request.tag, version)
    if request.push:
        _push_registry(tag)  # refused before anything is read
    bundle = read_bundle(stores, version)
    return run_build(
        lambda dest: write_context(stores, version, bundle, dest),
        tag,
        f"{version.model} v{version.version}",
        request,
        out or sys.stdout,
    )


def run_build(
    write: Callable[[Path], Context], tag: str, what: str, request: ImageRequest, stream: TextIO
) -> BuiltImage:
    """Write a build context with ``write`` (into an empty directory it is given), build it
    as ``tag`` and push it if asked; ``what`` says what is built, for the output."""
    registry = _push_registry(tag) if request.push else None
    builder = find_builder(request.builder)
    insecure = _without_tls(registry, request, builder) if registry else False
    with tempfile.TemporaryDirectory(prefix="shipyard-image-") as scratch:
        work = Path(scratch)
        context = write(work / "context")
        stream.write(f"building {tag} from {what} with {builder.name}\n")
        stream.flush()
        args = dict(context.labels)
        if request.base_image:
            args["BASE_IMAGE"] = request.base_image
        iidfile = work / "image-id"
        command = builder.build_command(context.path, tag, context.timestamp, args, iidfile)
        run_streamed(command, f"building {tag}", stream)
        image_id = iidfile.read_text().strip()
        pushed = None
        if request.push:
            digestfile = work / "digest"
            run_streamed(builder.push_command(tag, insecure, digestfile), f"pushing {tag}", stream)
            pushed = digestfile.read_text().strip() if digestfile.is_file() else None
    return BuiltImage(tag, image_id, builder.name, pushed)
