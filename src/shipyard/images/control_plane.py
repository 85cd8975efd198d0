"""The control plane's image: ``shipyard server`` with what it needs to run a team's server.

Built as a model's image is (``build.run_build``, the same builders and push), from a
context of three files: the pinned closure of Shipyard's server extras as installed here
(``pins.pin_closure``, so the image runs what was tested), a wheel of the running
Shipyard (``wheel.py``), and a Dockerfile. The dependencies' layer comes first and changes
only when a pin does; Shipyard's own layer is small. The image runs as user 10001 and
keeps its state in ``SHIPYARD_HOME`` (``/var/lib/shipyard``), so a read-only root
filesystem with a volume there works, as the control plane's Helm chart has it.

Every file and layer is dated ``SOURCE_DATE_EPOCH`` when it is set (the reproducible
builds convention), else the epoch: a rebuild of the same Shipyard gives the same layers.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TextIO

from shipyard import __version__
from shipyard.client.state import DEFAULT_PORT
from shipyard.errors import InvalidInputError
from shipyard.images import CONTROL_PLANE_HOME, CONTROL_PLANE_TAG
from shipyard.images.build import BuiltImage, ImageRequest, run_build
from shipyard.images.context import Context, settle
from shipyard.images.wheel import write_wheel

EXTRAS = ("serve", "kubernetes", "postgres", "s3")  # REST API, its target, its stores
COMMAND = ["shipyard", "server", "--host", "0.0.0.0", "--port", str(DEFAULT_PORT)]
USER = 10001

DOCKERFILE = """\
# syntax=docker/dockerfile:1
# Shipyard {version}'s control plane (`shipyard server`), written by `shipyard image build
# --control-plane`. Layers: the server's pinned dependencies (extras {extras}), then
# Shipyard from its wheel (Shipyard is not on PyPI).
ARG BASE_IMAGE={base_image}
FROM ${{BASE_IMAGE}}
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \\
      -r /tmp/requirements.txt \\
 && groupadd --gid {user} shipyard \\
 && useradd --uid {user} --gid {user} --home-dir {home} --create-home \\
      --shell /usr/sbin/nologin shipyard
COPY wheels/ /tmp/wheels/
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps \\
      /tmp/wheels/shipyard-*.whl
USER {user}
WORKDIR {home}
ENV PATH=/opt/venv/bin:$PATH \\
    SHIPYARD_HOME={home} \\
    PYTHONUNBUFFERED=1
EXPOSE {port}
# No unauthenticated health endpoint yet: healthy is the API's port open.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \\
  CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', \
int(os.environ.get('SHIPYARD_SERVER_PORT') or {port})), 3)"]
LABEL org.opencontainers.image.title="shipyard-control-plane" \\
      org.opencontainers.image.description="Shipyard's control plane: shipyard server" \\
      org.opencontainers.image.version="{version}" \\
      io.shipyard.component="control-plane" \\
      io.shipyard.extras="{extras}"
CMD {command}
"""


def default_base_image() -> str:
    """The base a model's image gets unless its spec says otherwise (``package.base_image``)."""
    from shipyard.spec.schema import PackageSpec

    return str(PackageSpec.model_fields["base_image"].default)


def requirements() -> list[str]:
    """``name==version`` of everything the server's extras need, as installed here
    (Shipyard itself comes from its wheel)."""
    from shipyard.pins import pin_closure

    pins = pin_closure([f"shipyard[{','.join(EXTRAS)}]"])
    return [pin for pin in pins if not pin.lower().startswith("shipyard==")]


def write_control_plane_context(dest: Path) -> Context:
    """Write the control plane's build context into the empty directory ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "requirements.txt").write_text("".join(f"{pin}\n" for pin in requirements()))
    write_wheel(dest / "wheels")
    dockerfile = DOCKERFILE.format(
        version=__version__,
        extras=",".join(EXTRAS),
        base_image=default_base_image(),
        user=USER,
        home=CONTROL_PLANE_HOME,
        port=DEFAULT_PORT,
        command=json.dumps(COMMAND),
    )
    (dest / "Dockerfile").write_text(dockerfile)
    timestamp = int(os.environ.get("SOURCE_DATE_EPOCH") or 0)
    settle(dest, timestamp)
    return Context(dest, timestamp, {})


def control_plane_tag(template: str = CONTROL_PLANE_TAG) -> str:
    """The image's name: ``template`` with ``{version}`` as Shipyard's version."""
    tag = template.replace("{version}", __version__)
    if "{" in tag or "}" in tag:
        raise InvalidInputError(
            f"--tag {template!r}: the control plane's only placeholder is {{version}}",
            hint="e.g. --tag registry.example/shipyard/control-plane:{version}",
        )
    return tag


def build_control_plane(request: ImageRequest, out: TextIO | None = None) -> BuiltImage:
    """Build (and push, if asked) the control plane's image as ``request.tag``."""
    tag = control_plane_tag(request.tag)
    what = f"shipyard {__version__} (control plane)"
    return run_build(write_control_plane_context, tag, what, request, out or sys.stdout)
